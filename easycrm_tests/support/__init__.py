"""Shared test helpers (moto S3/DynamoDB server on loopback, ...). Import fixtures explicitly from ``.fixtures``."""
