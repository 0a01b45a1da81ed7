"""The worker: its Faust app, the composition root that wires every service, its process."""
