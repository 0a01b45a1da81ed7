"""Kafka I/O: batch clients, the Faust transport, topic readers, the outbox, the broker."""
