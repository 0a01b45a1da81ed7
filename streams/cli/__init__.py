"""The ``adstream`` command line for running and operating the system."""
