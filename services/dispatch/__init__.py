"""dispatch: the contact book replica, templates, channels, every message and its status."""
