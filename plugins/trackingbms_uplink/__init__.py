"""Edge and central hubs (DESIGN §8): edges forward their readings over MQTT, centrals ingest them."""
