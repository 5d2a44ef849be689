"""Signed download links: report CSV and Excel content, recipients with and without personal
data, and links refused when forged, expired, revoked or outgrown by the caller's profile."""

from __future__ import annotations

import csv
import io
import time
from itertools import zip_longest
from xml.etree import ElementTree

import pytest
from openpyxl import load_workbook

from models import AuditEntry, Profile, User
from permissions.principal import load_user
from resolvers.signed_links import link_url, sign_link
from tests.schema.test_reports import build_shop, gid

pytestmark = pytest.mark.asyncio(loop_scope="session")

DOWNLOAD = """query($ids: [ID!]!, $format: ReportFormat!, $content: ReportContent!) {
  reportDownload(runIds: $ids, format: $format, content: $content) { url filename expiresAt } }"""


async def download_url(gql, token: str, run_ids: list[int], fmt="CSV", content="SUMMARY") -> dict:
    ids = [gid("PlanRun", i) for i in run_ids]
    return await gql.execute(DOWNLOAD, {"ids": ids, "format": fmt, "content": content}, token=token)


def csv_rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


async def test_reports_csv_has_one_row_per_consumer_with_the_counts(gql, accounts):
    shop = await build_shop(accounts)
    result = await download_url(gql, accounts.token["ADMIN"], [shop.run_id, shop.old_run_id])
    assert "errors" not in result, result
    link = result["data"]["reportDownload"]
    response = await gql.http.get(link["url"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = csv_rows(response.content)
    delivery, export, old = rows
    assert (delivery["run_id"], delivery["consumer_kind"], old["run_id"]) == (
        str(shop.run_id), "delivery", str(shop.old_run_id),
    )  # fmt: skip
    expected = {
        "plan": "Welcome", "author": "User", "segment": "Romans", "segment_size": "10",
        "excluded_no_consent": "2", "excluded_no_address": "1", "excluded_dnd": "0",
        "excluded_limit": "0", "control_group": "1", "recipients": "6", "channel": "email",
        "delivery_id": "dlv_1", "delivery_status": "started", "sent": "5", "delivered": "4",
        "bounced": "1", "unique_opens": "2", "total_opens": "3", "unique_clicks": "1",
        "total_clicks": "3", "errors": "1", "total_seconds": "10.0",
    }  # fmt: skip
    assert {k: delivery[k] for k in expected} == expected
    assert (export["consumer_kind"], export["sent"], export["errors"]) == ("export", "6", "0")
    assert (old["state"], old["consumer_kind"], old["sent"]) == ("failed", "", "")
    assert "shop.example" not in response.text  # a summary holds no personal data


async def test_xlsx_with_recipients_holds_addresses_for_admin(gql, accounts):
    shop = await build_shop(accounts)
    result = await download_url(gql, accounts.token["ADMIN"], [shop.run_id], "XLSX", "RECIPIENTS")
    link = result["data"]["reportDownload"]
    assert link["filename"].endswith(".xlsx")
    response = await gql.http.get(link["url"])
    assert response.status_code == 200, response.text
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    assert book.sheetnames == ["Reports", "Recipients"]
    header, *reports = list(book["Reports"].values)
    delivery = dict(zip(header, reports[0], strict=True))
    assert (delivery["delivered"], delivery["unique_opens"], delivery["total_clicks"]) == (4, 2, 3)
    header, *people = list(book["Recipients"].values)
    assert len(people) == 10
    # read-only workbooks drop trailing empty cells: pad each row to the header
    rows = [dict(zip_longest(header, row)) for row in people]
    by_external = {row["external_id"]: row for row in rows}
    c5 = by_external["c5"]
    assert (c5["status"], c5["address"], c5["opens"], c5["clicks"], c5["delivered"]) == (
        "sent", "c5@shop.example", 2, 3, 1,
    )  # fmt: skip
    assert by_external["c9"]["bounced"] == 1
    assert by_external["c10"]["error"] == "mailbox c10@shop.example rejected"
    assert by_external["c1"]["exclusion_reason"] == "no_consent"
    (audit,) = await AuditEntry.filter(action="download")
    assert (audit.object_type, audit.object_id, audit.user_id) == (
        "report", str(shop.run_id), accounts.users["ADMIN"].id,
    )  # fmt: skip
    assert audit.after["personalData"] is True and audit.after["content"] == "recipients"


async def test_recipients_csv_without_personal_data_permission_has_no_addresses(gql, accounts):
    shop = await build_shop(accounts)
    profile = await Profile.create(
        name="exporter", permissions=["report.read", "report.download", "contact.download"]
    )
    exporter = await accounts.make_user("exporter", "GUEST", [])
    exporter.profile = profile
    await exporter.save()
    await exporter.databases.add(await exporter_database(shop))
    token = accounts.token_for(exporter)
    result = await download_url(gql, token, [shop.run_id], "CSV", "RECIPIENTS")
    assert "errors" not in result, result
    response = await gql.http.get(result["data"]["reportDownload"]["url"])
    assert response.status_code == 200, response.text
    rows = csv_rows(response.content)
    assert len(rows) == 10
    assert "address" not in rows[0] and "error" not in rows[0]
    assert "shop.example" not in response.text
    c5 = next(r for r in rows if r["external_id"] == "c5")
    assert (c5["opens"], c5["clicks"]) == ("2", "3")


async def exporter_database(shop):
    from models import ContactDatabase

    return await ContactDatabase.get(id=shop.database_id)


async def reporter(accounts, shop) -> User:
    """A user whose custom profile may read and download reports, granted the shop's database."""
    profile = await Profile.create(name="reporter", permissions=["report.read", "report.download"])
    user = await accounts.make_user("reporter", "GUEST", [])
    user.profile = profile
    await user.save()
    await user.databases.add(await exporter_database(shop))
    return user


async def test_download_needs_report_download_and_contact_download(gql, accounts):
    shop = await build_shop(accounts)
    for profile in ("POWERUSER", "USER", "GUEST"):  # downloads are admin-only by default
        denied = await download_url(gql, accounts.token[profile], [shop.run_id])
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN", profile
    token = accounts.token_for(await reporter(accounts, shop))
    assert "errors" not in await download_url(gql, token, [shop.run_id])
    recipients = await download_url(gql, token, [shop.run_id], "CSV", "RECIPIENTS")
    assert recipients["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    other = await download_url(gql, token, [shop.other_run_id])
    assert other["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_forged_expired_and_outgrown_links_are_refused(gql, accounts, app_settings):
    shop = await build_shop(accounts)
    power = await reporter(accounts, shop)
    principal = (await load_user(power.id)).principal
    data = {"runs": [shop.run_id], "format": "csv", "content": "summary"}
    secret = app_settings.secret_key

    async def status(token: str) -> int:
        url = link_url("http://testserver", "/downloads/reports", token)
        return (await gql.http.get(url)).status_code

    good = await sign_link(secret, principal, "reports", data)
    assert await status(good) == 200
    assert await status(good[:-2] + ("AA" if not good.endswith("AA") else "BB")) == 403
    assert await status(await sign_link("another-secret", principal, "reports", data)) == 403
    expired = await sign_link(secret, principal, "reports", data, now=time.time() - 3600)
    assert await status(expired) == 403
    assert await status(await sign_link(secret, principal, "panel", data)) == 403  # wrong route
    assert (await gql.http.get("http://testserver/downloads/reports")).status_code == 403
    # a link for a run of a database the principal does not see
    hidden = await sign_link(secret, principal, "reports", data | {"runs": [shop.other_run_id]})
    assert await status(hidden) == 404
    # the user loses report.download after the link was made
    await User.filter(id=power.id).update(profile_id=(await Profile.get(name="USER")).id)
    assert await status(good) == 403
    # tokens invalidated (log out everywhere): the link dies with them
    await User.filter(id=power.id).update(
        profile_id=(await Profile.get(name="reporter")).id, token_version=power.token_version + 1
    )
    assert await status(good) == 403


async def test_panel_svg_link_gives_a_valid_svg(gql, accounts):
    shop = await build_shop(accounts)
    result = await gql.execute(
        "query($id: ID!) { segmentDashboard(segmentId: $id) { panels { key svgUrl } } }",
        {"id": gid("Segment", shop.segment_id)},
        token=accounts.token["GUEST"],
    )
    assert "errors" not in result, result
    panels = {p["key"]: p["svgUrl"] for p in result["data"]["segmentDashboard"]["panels"]}
    response = await gql.http.get(panels["gender"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in response.text
    root = ElementTree.fromstring(response.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    broken = panels["gender"].replace("token=", "token=x")
    assert (await gql.http.get(broken)).status_code == 403
