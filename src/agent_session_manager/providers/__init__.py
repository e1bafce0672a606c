"""Provider adapters: the ``ProviderAdapter`` port and one module per provider."""
