"""The portal: the HTTP edge for staff, residents and the public; stores only staff accounts."""
