"""Job webhooks (Standard Webhooks): a job with a ``callback_url`` is POSTed its summary when it ends.

* :mod:`.signing`: the ``webhook-id`` / ``webhook-timestamp`` / ``webhook-signature`` headers (HMAC-SHA256).
* :mod:`.targets`: which URLs may be called (no private, loopback or link-local addresses: SSRF).
* :mod:`.outbox`: the ``webhook_deliveries`` rows, written in the transaction that ends the job, and the
  dispatcher's claims and results.
* :mod:`.dispatcher`: the thread that claims due rows and POSTs them, with retries and backoff.
"""
