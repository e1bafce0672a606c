"""A scripted fake model server, so the real agent CLIs (``claude``, ``codex``) run fully offline.

It speaks the Anthropic Messages API (``POST /v1/messages``, streaming SSE or not, plus
``/v1/messages/count_tokens`` and ``/v1/models``) and the OpenAI Responses API
(``POST /v1/responses``, streaming SSE) on 127.0.0.1, on a free port, in a background thread. What
it answers is a *script*: rules tried in order, each a ``match`` (what the request must look like)
and a ``reply`` (actions: text, thinking, a shell-tool call built from the request's own shell tool
schema, any tool call, an HTTP error, a delay). Every request is kept in :attr:`requests` (and
optionally appended to a JSONL file) so tests can assert on what the CLI sent.

Script format (JSON, or the same shape as Python dicts)::

    {"rules": [
        {"match": {"user_contains": "write", "after_tool_result": false},
         "reply": [{"text": "I'll create the file."}, {"shell": "echo hi > out.txt"}],
         "usage": {"input_tokens": 100, "output_tokens": 10}},
        {"match": {"after_tool_result": true},
         "reply": [{"text": "Done: {tool_output}"}], "times": 1}],
     "default": [{"text": "Hello from the fake model!"}]}

Match keys (all must hold): ``api`` (``"anthropic"`` | ``"openai"``), ``user_contains`` (text of
the last user message the user typed), ``last_contains`` (any text of the last message),
``after_tool_result`` (bool: the last message carries a tool result), ``has_tools`` (bool),
``model_contains``, ``system_contains``. Reply actions: ``{"text": s}`` (``{tool_output}`` and
``{user_text}`` are substituted), ``{"thinking": s}``, ``{"shell": cmd}``, ``{"tool": name,
"input": {...}}``, ``{"error": status, "message": s}`` (an HTTP error in the API's own error
shape; 529 is Anthropic's "overloaded"), ``{"delay": seconds}`` (pause before the next action,
mid-stream). ``times`` limits how often a rule fires. Without a matching rule the ``default``
reply is used; prompts may also steer it with ``FAKE_SHELL: <cmd>`` / ``FAKE_TEXT: <text>``.

Layout: ``_script`` (scripts, rules, what a rule sees of a request), ``_anthropic`` and
``_openai`` (one module per wire format), ``_sse`` (the streaming both formats share), ``_server``
(:class:`FakeModelServer`: HTTP, dispatch, the request log) and ``__main__`` (the command). The
package knows HTTP and the two wire formats; it knows nothing of the session manager, its adapters
or its stores (the library never imports it).
"""

from __future__ import annotations

from agent_session_manager.testing.fake_model._script import (
    DEFAULT_REPLY,
    Script,
    ScriptError,
    delay,
    error,
    rule,
    shell,
    text,
    thinking,
    tool,
)
from agent_session_manager.testing.fake_model._server import FakeModelServer, RecordedRequest

__all__ = [
    "DEFAULT_REPLY",
    "FakeModelServer",
    "RecordedRequest",
    "Script",
    "ScriptError",
    "delay",
    "error",
    "rule",
    "shell",
    "text",
    "thinking",
    "tool",
]
