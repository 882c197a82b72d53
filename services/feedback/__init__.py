"""feedback: result summaries, the council's feedback and the public results pages."""
