"""The analytics pages (HTMX): the workspace dashboard, a code's page with its live counter,
privacy settings and bot rules, alert rules, exports.

Charts are drawn by static/charts.js from the ``data-chart`` JSON each canvas carries (the CSP
allows no inline script); every chart has its numbers in a table beside it too.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import login_required

from qrp_analytics import retention, services
from qrp_analytics.models import ALERT_KINDS, CHANNELS, DIMENSIONS
from qrplatform import permissions
from qrplatform.errors import ServiceError
from qrplatform.gateway import client_ip
from qrplatform.web import render

bp = Blueprint("analytics", __name__, url_prefix="/analytics", template_folder="templates",
               static_folder="static", static_url_path="/static/analytics")

COLOURS = {"humans": "#1e88e5", "uniques": "#43a047", "bots": "#fb8c00",
           "previews": "#8e24aa", "heads": "#757575", "previous": "#90a4ae",
           "forecast": "#1e88e5", "band": "rgba(30,136,229,.18)", "others": "#fb8c00"}


@bp.app_context_processor
def home_context() -> dict:
    """For the home.cards slot (analytics/_home_cards.html): computed only where it renders."""
    return {"analytics_home": services.home_summary,
            "analytics_onboarding_code": services.onboarding_code}


COUNTER_LABELS = {"scans": "All scans", "humans": "Humans", "uniques": "Unique humans",
                  "bots": "Bots", "previews": "Link previews", "heads": "HEAD requests"}


def _date_arg(name: str) -> date | None:
    value = request.args.get(name) or None
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise services.InvalidInput(f"{value!r} is not a date (YYYY-MM-DD).", field=name) \
            from exc


def _period_from_request() -> tuple[services.Period, str | None]:
    """The period the page asks for; on bad input the default one and the message."""
    try:
        return services.period(request.args.get("range") or None, _date_arg("start"),
                               _date_arg("end"), request.args.get("granularity") or None), None
    except ServiceError as error:
        return services.period(), error.message


def _label(bucket: str, granularity: str) -> str:
    moment = bucket[:16].replace("T", " ")
    return moment if granularity == "hour" else moment[:10]


def series_chart(insights: dict[str, Any]) -> dict[str, Any]:
    data = insights["series"]
    labels = [_label(b, data["granularity"]) for b in data["buckets"]]
    return {
        "type": "line", "labels": labels, "yTitle": "scans",
        "datasets": [
            {"label": "Humans", "data": data["current"]["humans"], "color": COLOURS["humans"]},
            {"label": "Unique humans", "data": data["current"]["uniques"],
             "color": COLOURS["uniques"]},
            {"label": "Humans, previous period", "data": data["previous"]["humans"],
             "color": COLOURS["previous"], "dashed": True},
        ],
    }


def bots_chart(insights: dict[str, Any]) -> dict[str, Any]:
    data = insights["series"]
    labels = [_label(b, data["granularity"]) for b in data["buckets"]]
    return {
        "type": "bar", "stacked": True, "labels": labels, "yTitle": "scans",
        "datasets": [{"label": COUNTER_LABELS[c], "data": data["current"][c],
                      "color": COLOURS[c]} for c in ("humans", "bots", "previews", "heads")],
    }


def ranked_height(count: int) -> str:
    """Horizontal bars keep their thickness: the chart grows with its rows."""
    return f"{4 + 2.2 * max(count, 1):.1f}rem"


def ranked_chart(rows: list[dict[str, Any]], counter: str) -> dict[str, Any]:
    return {"type": "ranked", "height": ranked_height(len(rows)),
            "labels": [r["value"] for r in rows],
            "datasets": [{"label": "Humans" if counter == "humans" else "Scans",
                          "data": [r[counter] for r in rows], "color": COLOURS[counter]}]}


def top_codes_chart(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "ranked", "stacked": True, "height": ranked_height(len(rows)),
            "labels": [r["name"] for r in rows],
            "datasets": [{"label": "Humans", "data": [r["humans"] for r in rows],
                          "color": COLOURS["humans"]},
                         {"label": "Bots, previews, HEAD",
                          "data": [r["bots"] + r["previews"] + r["heads"] for r in rows],
                          "color": COLOURS["bots"]}]}


def forecast_chart(forecast: dict[str, Any]) -> dict[str, Any] | None:
    if not forecast.get("ready"):
        return None
    days = forecast["days"]
    return {"type": "forecast", "labels": [d["day"] for d in days], "yTitle": "human scans",
            "datasets": [
                {"label": "Expected", "data": [d["expected"] for d in days],
                 "color": COLOURS["forecast"]},
                {"label": "Likely from", "data": [d["low"] for d in days],
                 "color": COLOURS["band"], "band": "low"},
                {"label": "Likely up to (90 %)", "data": [d["high"] for d in days],
                 "color": COLOURS["band"], "band": "high"},
            ]}


def page_context(insights: dict[str, Any]) -> dict[str, Any]:
    breakdowns = insights["breakdowns"]
    return {
        "insights": insights,
        "counter_labels": COUNTER_LABELS,
        "dimension_labels": services.DIMENSION_LABELS,
        "dimensions": [d for d in DIMENSIONS if d not in ("reason", "outcome", "route",
                                                             "conversion")],
        "change": services.change,
        "series_chart": series_chart(insights),
        "bots_chart": bots_chart(insights),
        "breakdown_charts": {d: ranked_chart(breakdowns[d], "others" if d == "reason"
                                             else "humans") for d in DIMENSIONS},
        "top_codes_chart": top_codes_chart(insights.get("top_codes") or []),
        "ranges": services.RANGES,
    }


@bp.get("/")
@login_required
def index():
    permissions.require("analytics.view")
    p, error = _period_from_request()
    insights = services.insights(p)
    return render("analytics/index.html", "analytics/_insights.html", period=p,
                  period_error=error, code=None, **page_context(insights))


@bp.get("/codes/<int:code_id>")
@login_required
def code(code_id: int):
    permissions.require("analytics.view")
    qr_code = services.check_code(code_id)
    p, error = _period_from_request()
    insights = services.insights(p, code_id)
    forecast = services.code_forecast(code_id)
    return render("analytics/code.html", "analytics/_insights.html", period=p,
                  period_error=error, code=qr_code, live=services.live(code_id),
                  forecast=forecast, forecast_chart=forecast_chart(forecast),
                  **page_context(insights))


@bp.get("/codes/<int:code_id>/live")
@login_required
def live(code_id: int):
    """The live counter; it polls itself every few seconds."""
    permissions.require("analytics.view")
    services.check_code(code_id)
    return render("analytics/_live.html", "analytics/_live.html", code_id=code_id,
                  live=services.live(code_id))


SETTINGS_FIELDS = ("record_referrer", "record_user_agent", "record_country", "retention_days",
                   "bot_user_agent_patterns", "bot_countries")


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    permissions.require("analytics.view")
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = request.form
        data = {
            "record_referrer": form.get("record_referrer") == "on",
            "record_user_agent": form.get("record_user_agent") == "on",
            "record_country": form.get("record_country") == "on",
            "retention_days": form.get("retention_days") or None,
            "bot_user_agent_patterns": form.get("bot_user_agent_patterns", "").splitlines(),
            "bot_countries": form.get("bot_countries", "").replace(",", " ").split(),
        }
        try:
            services.update_settings(data)
        except ServiceError as error:
            errors[error.field or "_"] = error.message
        else:
            flash("Analytics settings saved. They apply to scans from now on.", "success")
            return redirect(url_for("analytics.settings"))
    found = services.settings()
    # After a refusal the form shows what was typed, not what is saved.
    values = {**{name: getattr(found, name) for name in SETTINGS_FIELDS}, **(
        {**data, "retention_days": request.form.get("retention_days", "")} if errors else {})}
    ip, agent = client_ip(), request.headers.get("User-Agent")
    return render("analytics/settings.html", settings=found, values=values, errors=errors,
                  retention=services.effective_retention(found),
                  plan_retention=retention.plan_retention_days(),
                  this_device_is_test=services.is_test_device(ip, agent),
                  test_devices=services.test_devices_today(), status=422 if errors else 200)


@bp.post("/settings/test-device")
@login_required
def test_device():
    on = request.form.get("on") == "1"
    services.set_test_device(client_ip(), request.headers.get("User-Agent"), on,
                             request.form.get("label", ""))
    flash("Scans from this device count as tests until midnight UTC." if on
          else "This device counts as a normal scanner again.", "success")
    return redirect(url_for("analytics.settings"))


@bp.route("/alerts", methods=["GET", "POST"])
@login_required
def alerts():
    permissions.require("analytics.view")
    error = None
    if request.method == "POST":
        try:
            services.create_alert_rule({
                "kind": request.form.get("kind"), "channel": request.form.get("channel"),
                "recipient": request.form.get("recipient"),
                "code_id": request.form.get("code_id") or None,
                "cooldown_hours": request.form.get("cooldown_hours") or 24,
            })
        except ServiceError as exc:
            error = exc
        else:
            flash("Alert rule added.", "success")
            return redirect(url_for("analytics.alerts"))
    return render("analytics/alerts.html", rules=services.alert_rules(), error=error,
                  kinds=ALERT_KINDS, channels=CHANNELS, code_name=services.code_name,
                  anomalies=services.recent_anomalies(limit=30),
                  status=422 if error else 200)


@bp.post("/alerts/<int:rule_id>/delete")
@login_required
def delete_alert(rule_id: int):
    services.delete_alert_rule(rule_id)
    flash("Alert rule removed.", "success")
    return redirect(url_for("analytics.alerts"))


@bp.post("/exports")
@login_required
def export():
    """Start a CSV export; answers the job's progress partial, which polls itself."""
    p, _error = _period_from_request_form()
    job = services.start_export(request.form.get("kind", "scans"), p)
    return render("jobs/job.html", "jobs/_progress.html", job=job)


def _period_from_request_form() -> tuple[services.Period, str | None]:
    try:
        start = request.form.get("start") or None
        end = request.form.get("end") or None
        return services.period(request.form.get("range") or None,
                               date.fromisoformat(start) if start else None,
                               date.fromisoformat(end) if end else None), None
    except (ServiceError, ValueError) as error:
        return services.period(), str(error)
