"""DeepSeek standardizer: request building, reply parsing/joining and the HTTP client (no Dagster imports).

Public API::

    from easycrm_pipeline.deepseek import DeepSeekClient, BatchAnswer, Usage, build_request, parse_content, join_items
    from easycrm_pipeline.deepseek import DeepSeekError, DeepSeekFatal, DeepSeekBatchRejected, DeepSeekBatchFailed
"""
from easycrm_pipeline.deepseek.client import (
    DEFAULT_PRICE_TABLE, PRICE_TABLES, BatchAnswer, DeepSeekClient, Usage, parse_retry_after, price_table_for,
)
from easycrm_pipeline.deepseek.errors import (
    BadJson, BlankContent, DeepSeekBatchFailed, DeepSeekBatchRejected, DeepSeekError, DeepSeekFatal, ReplyError,
)
from easycrm_pipeline.deepseek.prompt import (
    PROMPT_VERSION, SYSTEM_PROMPT, build_request, chat_body, default_max_tokens, prompt_hash, standardizer_version,
)
from easycrm_pipeline.deepseek.reply import coerce_value, join_items, parse_content, parse_json_object

__all__ = [
    "BadJson", "BatchAnswer", "BlankContent", "DEFAULT_PRICE_TABLE", "DeepSeekBatchFailed", "DeepSeekBatchRejected",
    "DeepSeekClient", "DeepSeekError", "DeepSeekFatal", "PRICE_TABLES", "PROMPT_VERSION", "ReplyError",
    "SYSTEM_PROMPT", "Usage", "build_request", "chat_body", "coerce_value", "default_max_tokens", "join_items",
    "parse_content", "parse_json_object", "parse_retry_after", "price_table_for", "prompt_hash",
    "standardizer_version",
]
