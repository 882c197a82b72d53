"""rounds: questionnaires, approval, invitations, pseudonymous responses and results."""
