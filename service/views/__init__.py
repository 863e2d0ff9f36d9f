"""Views: the API's read models built from rows, importable by services and by the webhook outbox alike."""
