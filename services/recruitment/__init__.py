"""recruitment: councils' panel settings, members, consent. The only home of identity."""
