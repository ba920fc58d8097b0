"""Provider simulators: what a provider's system does on its topics, runnable, for tests, demo and benchmark."""
