"""Station configuration: station, satellites, instrument profiles, paths, keys, catalogue.

Validated once, at load (:func:`load_config`); every stage receives the resulting frozen
:class:`StationConfig`. Nothing here reads the environment or the network, and this
package imports no stage. Defaults live in ``station_config/defaults/`` and in the model
field defaults of :mod:`station_config.models` — nowhere else.
"""
from station_config.models import (  # noqa: F401
    Band, CatalogueConfig, ChannelCoding, Instrument, Paths, Satellite, Station, StationConfig,
)
from station_config.loader import DEFAULT_CONFIG, load_config  # noqa: F401
from station_config.tle import TLE, parse_tle  # noqa: F401
