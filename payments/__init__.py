"""Tickets for pay-per-view streams, Stripe, webhooks, refunds, revenue and the access check."""
