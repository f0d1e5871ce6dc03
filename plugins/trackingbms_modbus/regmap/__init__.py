"""Register maps: the YAML format, its validation and the typed model."""

from trackingbms_modbus.regmap.loader import MapError, load_map, map_reference, resolve_map, shipped_maps
from trackingbms_modbus.regmap.model import BitSpec, EnumValue, Function, Register, RegisterMap, Target, ValueType

__all__ = [
    "BitSpec",
    "EnumValue",
    "Function",
    "MapError",
    "Register",
    "RegisterMap",
    "Target",
    "ValueType",
    "load_map",
    "map_reference",
    "resolve_map",
    "shipped_maps",
]
