"""API schemas; names say direction: ``*Create`` in, ``*Read`` out, ``*Page`` lists."""
