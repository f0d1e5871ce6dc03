"""Notifiers: email, SMS and webhooks."""
