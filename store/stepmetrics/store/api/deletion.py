"""`DELETE /api/v1/executions/{execution_id}`: the one handler that writes.

A thin adapter over `stepmetrics.store.lifecycle.Deleter` (held in
`request.app.state.deleter`); the token scope comes from the auth middleware.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from stepmetrics.store.api import params
from stepmetrics.store.api.auth import ADMIN, token_scope
from stepmetrics.store.api.responses import error
from stepmetrics.store.lifecycle import Deleter
from stepmetrics.store.settings import API_ADMIN_TOKEN, API_TOKEN, ApiSettings


async def delete_execution(request: Request) -> Response:
    """DELETE one execution: admin token only; 204, or 404 when unknown or
    deleted before (the index cleanup is then done again)."""
    params.checked(request.query_params, ())
    execution_id = params.path(request.path_params, "execution_id")
    settings: ApiSettings = request.app.state.settings
    if not settings.deleting:
        return error(
            403, f"deleting is off: the API has no admin token ({API_ADMIN_TOKEN.name} is unset)"
        )
    if token_scope(request.scope) != ADMIN:
        return error(
            403,
            "this token may only read: deleting needs the admin token "
            f"({API_ADMIN_TOKEN.name}), not {API_TOKEN.name}",
        )
    deleter: Deleter = request.app.state.deleter
    reply = await deleter.delete(execution_id)
    if reply.status == "deleted":
        return Response(status_code=204)
    before = " (it was deleted before)" if reply.status == "tombstoned" else ""
    return error(404, f"execution {execution_id!r} not found{before}")
