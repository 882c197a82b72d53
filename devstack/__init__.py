"""Local development stack helpers: fake SMTP mailbox and SMS gateway (devtools)."""
