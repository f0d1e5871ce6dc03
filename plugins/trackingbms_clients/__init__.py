"""The client manager: tenants, clients nested to any depth, sites, battery placement, custom fields, the tree."""
