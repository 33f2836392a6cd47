"""Exceptions of the DeepSeek layer. Every class subclasses :class:`DeepSeekError`.

What the caller does with each (docs/deepseek.md#errors-and-retries, DeepSeek error codes
https://api-docs.deepseek.com/quick_start/error_codes):

* :class:`DeepSeekFatal` - HTTP 401 (bad key) / 402 (out of balance): stop the whole file, show the message.
* :class:`DeepSeekBatchRejected` - HTTP 400 (invalid format) / 422 (invalid parameters) and other 4xx: the request
  itself is wrong, retrying cannot help; quarantine the batch.
* :class:`DeepSeekBatchFailed` - retryable trouble (429, 5xx, timeouts, blank body/content, unparseable JSON)
  persisted through every attempt: dead-letter the batch, it may succeed later.
* :class:`BlankContent` / :class:`BadJson` - raised by :func:`easycrm_pipeline.deepseek.reply.parse_content`;
  the client treats both as retryable.

Messages never contain the API key (the client scrubs server-provided text before putting it in a message).
"""
from __future__ import annotations


class DeepSeekError(Exception):
    """Base class of every error raised by ``easycrm_pipeline.deepseek``.

    Attributes:
        reason: one-line human-readable reason (same as ``str(exc)``), never containing the API key.
        status: HTTP status code when the error came from an HTTP answer, else ``None``.
        usage: token usage (a ``client.Usage``) spent before the error was raised, or ``None``; failed attempts
            that returned a ``usage`` block are billed by DeepSeek too, so callers should record it.
    """

    def __init__(self, reason: str, *, status: int | None = None, usage: object | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.usage = usage


class DeepSeekFatal(DeepSeekError):
    """The account cannot call DeepSeek at all (HTTP 401 bad key, 402 out of balance). Never retried.

    Messages are exactly ``"DeepSeek rejected the API key"`` (401) and ``"DeepSeek account is out of balance"`` (402).
    """


class DeepSeekBatchRejected(DeepSeekError):
    """DeepSeek refused this request as invalid (HTTP 400 / 422, or another non-retryable 4xx). Never retried."""


class DeepSeekBatchFailed(DeepSeekError):
    """Retryable failures (429, 500, 502, 503, 504, timeouts, connection errors, blank body or content, unparseable
    JSON, or a reply cut at ``max_tokens`` even for a single row) did not clear within the allowed attempts.

    Attributes:
        attempts: how many HTTP requests were made for the failing request (``None`` when not applicable).
    """

    def __init__(self, reason: str, *, status: int | None = None, usage: object | None = None,
                 attempts: int | None = None) -> None:
        super().__init__(reason, status=status, usage=usage)
        self.attempts = attempts


class ReplyError(DeepSeekError):
    """The ``choices[0].message.content`` of a 200 answer is unusable (base of :class:`BlankContent`, :class:`BadJson`)."""


class BlankContent(ReplyError):
    """The content is ``None``, empty or whitespace only.

    DeepSeek JSON Output guide, note 4: when the model's output cannot be recognized as JSON the API replaces it with
    spaces, so ``content`` may be blank even with ``finish_reason == "stop"`` (https://api-docs.deepseek.com/guides/json_mode).
    """


class BadJson(ReplyError):
    """The content holds no JSON object that can be decoded (after fence stripping and ``raw_decode`` scanning)."""
