"""Storage: the interface every backend implements, and the batched recorder."""

from hub.storage.base import DEFAULT_TENANT, Storage, StorageError, TenantStore

__all__ = ["DEFAULT_TENANT", "Storage", "StorageError", "TenantStore"]
