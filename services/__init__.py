"""The five services of Rådslag; each owns its own database and talks over NATS."""
