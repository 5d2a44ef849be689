"""Routes behind the signed links GraphQL hands out: report downloads and panel SVGs.

    GET /downloads/reports?token=...     CSV or Excel (streamed)
    GET /downloads/panel.svg?token=...   one dashboard panel as SVG

The token says what and for whom (see resolvers.signed_links); the principal is loaded
again and its permissions and database grants checked anew. 403 for a bad, expired or
revoked link or a missing permission, 404 for what the principal cannot see.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from contactplan.settings import Settings
from permissions.audit import record_audit
from permissions.errors import NotFound, RequestError
from permissions.names import Perm
from permissions.rules import may
from resolvers import dashboards, report_export, reports
from resolvers.signed_links import Link, LinkError, verify_link
from segmentation.dashboards import render_panel_svg

log = logging.getLogger(__name__)

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "code": code}}, status_code=status)


def _forbidden(message: str) -> JSONResponse:
    return _error(403, message, "FORBIDDEN")


async def _link(settings: Settings, request: Request, purpose: str) -> Link | Response:
    try:
        return await verify_link(settings.secret_key, request.query_params.get("token"), purpose)
    except LinkError as exc:
        return _forbidden(f"Invalid download link: {exc}.")


def reports_endpoint(settings: Settings):
    async def download_reports(request: Request) -> Response:
        link = await _link(settings, request, "reports")
        if isinstance(link, Response):
            return link
        principal = link.principal
        fmt, content = link.data.get("format"), link.data.get("content")
        run_ids = [i for i in link.data.get("runs", []) if isinstance(i, int)]
        if fmt not in MEDIA_TYPES or content not in ("summary", "recipients") or not run_ids:
            return _forbidden("Invalid download link: unknown content.")
        if not may(principal, Perm.REPORT_DOWNLOAD):
            return _forbidden("Your profile lacks the permission 'report.download'.")
        with_people = content == "recipients"
        if with_people and not may(principal, Perm.CONTACT_DOWNLOAD):
            return _forbidden("Your profile lacks the permission 'contact.download'.")
        try:
            found = await reports.get_reports(principal, run_ids)
        except NotFound as exc:
            return _error(404, exc.message, "NOT_FOUND")
        personal = may(principal, Perm.PERSONAL_DATA_READ)
        await record_audit(  # who took which data out, and whether it held personal data
            principal,
            "download",
            "report",
            run_ids[0],
            database_id=found[0].database_id,
            after={"runs": run_ids, "format": fmt, "content": content, "personalData": personal},
            request_id=request.scope.get("state", {}).get("request_id"),
        )
        body: AsyncIterator[bytes]
        if fmt == "xlsx":
            body = report_export.reports_xlsx(
                found, recipients_of=run_ids if with_people else (), personal_data=personal
            )
        elif with_people:
            body = report_export.recipients_csv(run_ids, personal_data=personal)
        else:
            body = report_export.reports_csv(found)
        stem = "recipients" if with_people else "reports"
        filename = f"{stem}-{run_ids[0]}.{fmt}" if len(run_ids) == 1 else f"{stem}.{fmt}"
        return StreamingResponse(
            body,
            media_type=MEDIA_TYPES[fmt],
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
            },
        )

    return download_reports


def panel_endpoint(settings: Settings):
    async def panel_svg(request: Request) -> Response:
        link = await _link(settings, request, "panel")
        if isinstance(link, Response):
            return link
        if not may(link.principal, Perm.DASHBOARD_READ):
            return _forbidden("Your profile lacks the permission 'dashboard.read'.")
        data = link.data
        try:
            options = dashboards.options_from_data(data["options"])
            compute = (
                dashboards.segment_dashboard
                if data["scope"] == "segment"
                else dashboards.database_dashboard
            )
            dashboard = await compute(settings, link.principal, int(data["id"]), options)
            panel = dashboard.panel(str(data["panel"]))
        except (KeyError, TypeError, ValueError):
            return _error(404, "No such panel.", "NOT_FOUND")
        except RequestError as exc:
            status = 404 if exc.code == "NOT_FOUND" else 400
            return _error(status, exc.message, exc.code)
        svg = await asyncio.to_thread(render_panel_svg, panel)
        return Response(
            svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=300"}
        )

    return panel_svg


def download_routes(settings: Settings) -> list[Route]:
    """The routes serving signed download and picture links."""
    return [
        Route("/downloads/reports", reports_endpoint(settings), methods=["GET"]),
        Route("/downloads/panel.svg", panel_endpoint(settings), methods=["GET"]),
    ]
