"""Problem details (RFC 9457) for every error under /api/v1: `Problem` raised by the API's
own code, and FastAPI's validation and HTTP errors on the API's paths rendered the same
way (other mounted apps keep their own error shapes, e.g. CKAN's)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PREFIX = "/api/v1"
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    def __init__(self, status: int, code: str, title: str, detail: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail or title)
        self.status, self.code, self.title, self.detail = status, code, title, detail
        self.headers, self.extra = headers or {}, extra


def response(request: Request, p: Problem) -> JSONResponse:
    body = {"type": f"{PREFIX}/problems/{p.code}", "title": p.title, "status": p.status,
            "instance": request.url.path, **({"detail": p.detail} if p.detail else {}), **p.extra}
    return JSONResponse(body, status_code=p.status, media_type=MEDIA_TYPE, headers=p.headers)


def install(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return response(request, exc)

    async def on_http(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, StarletteHTTPException)
        if not request.url.path.startswith(PREFIX):
            return await http_exception_handler(request, exc)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return response(request, Problem(exc.status_code, code, str(exc.detail), headers=exc.headers))

    async def on_validation(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, RequestValidationError)
        if not request.url.path.startswith(PREFIX):
            return await request_validation_exception_handler(request, exc)
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return response(request, Problem(400, "invalid_request", "The request is not valid",
                                         "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                                   for e in errors), errors=errors))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
