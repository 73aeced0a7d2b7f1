"""Constants of the srd STAC catalogue (STAC 1.1.0 and the extension versions we write).

Kept apart from item building (stactools layout) so a schema bump is one edit here.
"""
from __future__ import annotations

STAC_VERSION = "1.1.0"

#: extension schema URIs written in ``stac_extensions`` (latest released versions)
EO = "https://stac-extensions.github.io/eo/v2.0.0/schema.json"
VIEW = "https://stac-extensions.github.io/view/v1.1.0/schema.json"
SAT = "https://stac-extensions.github.io/sat/v1.2.0/schema.json"
PROJ = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
PROCESSING = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
FILE = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
ITEM_EXTENSIONS = (EO, VIEW, SAT, PROJ, PROCESSING, FILE)
COLLECTION_EXTENSIONS = (EO, SAT, PROJ, PROCESSING)

#: product level (directory contract) -> STAC processing:level and a human title
LEVELS = {
    "primary": ("L1", "Primary (Level 1, sensor geometry with RPC)"),
    "ortho": ("L2", "Ortho (Level 2, orthorectified, map projected)"),
}

LICENSE = "other"
PROVIDER_NAME = "srd direct-reception ground station"
INSTRUMENT = "naomi"          # SPOT 6/7 NAOMI-class imager (STAC: lower case)
CONSTELLATION = "spot"

#: COSPAR international designators of the platforms we know (sat extension)
INTERNATIONAL_DESIGNATOR = {"SPOT-6": "2012-047A", "SPOT-7": "2014-034A"}

#: media types (STAC best practices)
COG = "image/tiff; application=geotiff; profile=cloud-optimized"
PNG = "image/png"
JPEG = "image/jpeg"
JSON = "application/json"

#: SHA2-256 multihash prefix (function code 0x12, length 0x20) for file:checksum
MULTIHASH_SHA256 = "1220"

#: metadata file of a product scene directory (the contract this catalogue reads)
SCENE_METADATA = "metadata.json"
