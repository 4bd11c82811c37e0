"""One error body for the whole API, and the one exception that produces it.

Every 4xx/5xx answer is ``{"code", "message", "detail", "errors"}``: ``code`` is stable
for programs (``not_found``, ``validation_error`` …), ``message`` is a zh-CN sentence
for the operator, ``detail`` keeps the technical reason (string or object) and
``errors`` lists field problems (422). Routes raise :class:`ApiError` (or
:func:`api_error`); a plain ``HTTPException`` still gets the same body, with the
status's default message, so nothing answers in another shape.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException


class FieldError(BaseModel):
    field: str = Field(description="where: body.x, query.y, path.z, or a file's line/field")
    message: str
    type: str = ""


class ErrorBody(BaseModel):
    """The body of every error answer."""

    code: str = Field(description="stable machine-readable code, e.g. not_found, validation_error, rate_limited")
    message: str = Field(description="what went wrong and what to do, in zh-CN")
    detail: str | dict[str, Any] | list[Any] | None = Field(None, description="technical detail (English or data)")
    errors: list[FieldError] = Field(default_factory=list, description="field problems (422)")


# Default code and zh-CN message per status, for HTTPExceptions raised without ApiError.
STATUS_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "请求格式不正确。"),
    401: ("unauthorized", "未登录或登录已失效，请重新登录。"),
    403: ("forbidden", "没有权限执行此操作。"),
    404: ("not_found", "未找到，或不在您的管辖范围内。"),
    405: ("method_not_allowed", "不支持此请求方法。"),
    409: ("conflict", "当前状态不允许此操作。"),
    413: ("payload_too_large", "请求内容过大。"),
    422: ("validation_error", "请求参数不合法。"),
    429: ("rate_limited", "请求过于频繁，请稍后再试。"),
    500: ("internal_error", "服务器内部错误，请联系管理员。"),
    502: ("bad_gateway", "设备返回错误。"),
    503: ("unavailable", "服务暂不可用，请稍后再试。"),
    504: ("gateway_timeout", "设备未及时响应。"),
}


class ApiError(StarletteHTTPException):
    """Raise this from a route: status, stable code, zh-CN message, optional detail and field errors."""

    def __init__(self, status_code: int, code: str, message: str, *, detail: Any = None,
                 errors: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code, detail if detail is not None else message, headers=headers)
        self.code = code
        self.message = message
        self.extra_detail = detail
        self.errors = errors or []


def api_error(status_code: int, message: str, *, code: str | None = None, detail: Any = None,
              field: str | None = None, headers: dict[str, str] | None = None) -> ApiError:
    """An :class:`ApiError` with the status's default code; ``field`` adds one field error (422)."""
    errors = [{"field": field, "message": message, "type": code or "invalid"}] if field else None
    return ApiError(status_code, code or STATUS_DEFAULTS.get(status_code, ("error", ""))[0], message,
                    detail=detail, errors=errors, headers=headers)


def error_body(status_code: int, *, code: str | None = None, message: str | None = None, detail: Any = None,
               errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    default_code, default_message = STATUS_DEFAULTS.get(status_code, ("error", "请求失败。"))
    return {"code": code or default_code, "message": message or default_message, "detail": detail,
            "errors": errors or []}


def error_response(status_code: int, *, headers: dict[str, str] | None = None, **body: Any) -> JSONResponse:
    return JSONResponse(error_body(status_code, **body), status_code=status_code, headers=headers)


def _field_errors_from_detail(detail: Any) -> list[dict[str, str]]:
    # Older routes raise HTTPException(422, {"field": ..., "message": ...}).
    if isinstance(detail, dict) and "field" in detail and "message" in detail:
        return [{"field": str(detail["field"]), "message": str(detail["message"]), "type": "invalid"}]
    return []


def validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    # Name the field; never echo the submitted value (it may be a password).
    return [{"field": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg", ""),
             "type": err.get("type", "")} for err in exc.errors()]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc)
        fields = "、".join(dict.fromkeys(e["field"] for e in errors))
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return error_response(422, message=f"请求参数不合法：{fields}。", detail=summary, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = getattr(exc, "headers", None)
        if isinstance(exc, ApiError):
            return error_response(exc.status_code, headers=headers, code=exc.code, message=exc.message,
                                  detail=exc.extra_detail, errors=exc.errors)
        detail = exc.detail
        errors = _field_errors_from_detail(detail)
        message = None
        if errors:
            message = f"请求参数不合法：{errors[0]['field']}。"
        return error_response(exc.status_code, headers=headers, message=message, detail=detail, errors=errors)

    @app.exception_handler(OverflowError)
    async def on_overflow(request: Request, exc: OverflowError) -> JSONResponse:
        # A backstop: integers are bounded at the edge (web.deps.DbInt), but a number too large
        # for the database must never become a 500.
        return error_response(422, message="数值超出允许范围。", detail=str(exc))


# Statuses every operation may answer with, besides its own success and declared extras.
COMMON_ERRORS = (401, 403, 404, 422)
BODY_ERRORS = (400, 413)
_DESCRIPTIONS = {400: "malformed request (e.g. a broken multipart body)", 401: "not logged in or token no longer valid",
                 403: "not allowed for this role or jurisdiction", 404: "not found in your jurisdiction",
                 409: "conflict with the current state", 413: "body or upload too large",
                 422: "invalid parameters (see `errors`)", 429: "too many attempts", 502: "the device answered with an error",
                 503: "not configured or temporarily unavailable", 504: "the device did not answer in time"}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a FastAPI OpenAPI document so every error status names :class:`ErrorBody`."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (FieldError, ErrorBody):
        components[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            statuses = set(COMMON_ERRORS)
            if path == "/api/auth/login":
                statuses = {401, 403, 422, 429}
            if method in ("post", "put", "patch"):
                statuses.update(BODY_ERRORS)
            if method in ("post", "put", "patch", "delete") and path != "/api/auth/login":
                statuses.add(409)  # a change can always meet a state that refuses it (already done, taken …)
            statuses.update(int(code) for code in responses if str(code).isdigit() and int(code) >= 400)
            for status in sorted(statuses):
                existing = responses.get(str(status), {})
                responses[str(status)] = {"description": existing.get("description") or _DESCRIPTIONS.get(status, "error"),
                                          "content": ref}
    return schema
