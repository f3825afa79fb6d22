"""The model server: protocol v1 over WebSocket, checkpoint registry, batching and backends."""
