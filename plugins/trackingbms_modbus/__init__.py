"""Any Modbus battery from a YAML register map."""
