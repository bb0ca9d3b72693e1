"""The buyer's setup pages: list, create, edit, archive and restore traffic sources, affiliate
networks, offers, landers, flows and campaigns, and a campaign's own page.

Every kind has the same routes (``/offers``, ``/offers/new``, ``/offers/<id>/edit``,
``/offers/<id>/archive``, ``/offers/<id>/restore``; endpoints ``setup.offers``,
``setup.offer_new``, ``setup.offer_edit``, ``setup.offer_update`` (the edit page's POST),
``setup.offer_archive``, ``setup.offer_restore``), plus ``setup.campaign``. Viewers read every
page, the edit pages read-only; writing needs the buyer role. Views parse the form, call one
service of ``tracker.setup.services``, commit, and answer; the services' messages are laid
beside the fields they name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import SelectChoice

from tracker.auth.sessions import current_membership, role_required
from tracker.extensions import db
from tracker.models.setup import (
    AffiliateNetwork,
    Campaign,
    CostModel,
    Flow,
    Lander,
    Offer,
    TrafficSource,
)
from tracker.models.types import utcnow
from tracker.models.users import Role
from tracker.numbers import parse_page
from tracker.reports.metrics import METRIC_BY_NAME, Metrics, MetricSpec, Sums
from tracker.reports.query import metrics_by_entity, today_in
from tracker.reports.ranges import RANGES, DayRange, pick_range
from tracker.reports.rollups import refresh_if_stale
from tracker.setup import flow_editor, flow_form, forms, presets, services, urls
from tracker.setup.forms import ArchiveForm, FormErrors
from tracker.setup.services import InvalidSetup, NotFound, Page

setup_bp = Blueprint("setup", __name__)

PAGE_SIZE = 50
TEST_VISIT_ENDPOINT = "test_visit.test_visit"
# Postback URL tokens a traffic source's URL may use (CONTRACT §1), shown beside the field.
SOURCE_POSTBACK_TOKENS = (
    "{externalid}",
    "{payout}",
    "{txid}",
    "{et}",
    "{status}",
    "{clickid}",
    "{cost}",
    "{campaign.id}",
    "{country}",
    "{var1}",
    "{var2}",
    "{var3}",
)
# Tokens an offer or lander URL may use.
URL_TOKENS = (
    "{clickid}",
    "{campaign.id}",
    "{campaign.name}",
    "{trafficsource.name}",
    "{lander.id}",
    "{offer.id}",
    "{country}",
    "{region}",
    "{city}",
    "{device}",
    "{os}",
    "{browser}",
    "{language}",
    "{ip}",
    "{externalid}",
    "{cost}",
    "{var1}",
    "{var2}",
    "{var3}",
)


def _workspace_id() -> int:
    return current_membership().workspace_id


def _base_url() -> str:
    """This tracker's root as the buyer reached it: campaign and postback URLs start here."""
    return request.url_root.rstrip("/")


def _can_edit() -> bool:
    return current_membership().role.allows(Role.BUYER)


# The main navigation's entry of each page (the layout marks that one as current).
NAV_SECTIONS: dict[str, str] = {"setup.campaign": "setup.campaigns"}


@setup_bp.context_processor
def _setup_context() -> dict[str, Any]:
    return {
        "can_edit": _can_edit(),
        "weight_shares": forms.weight_shares,
        "nav_section": NAV_SECTIONS.get(request.endpoint or "", ""),
    }


@setup_bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> ResponseReturnValue:
    """An id of another workspace, or of nothing: the same 404 page."""
    db.session.rollback()
    return render_template(
        "error.html", status=404, title="Not Found", message=exc.message.capitalize() + "."
    ), 404


# --- lookups shared by the pages -----------------------------------------------------------------


@dataclass(frozen=True)
class Named:
    """An object as a picker or a summary shows it."""

    id: int
    name: str
    archived: bool
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.name} (archived)" if self.archived else self.name


def _named(
    items: Iterable[Any], extra: Callable[[Any], dict[str, str]] | None = None
) -> dict[int, Named]:
    return {
        o.id: Named(o.id, o.name, o.archived_at is not None, extra(o) if extra else {})
        for o in items
    }


def _all(list_page: Callable[..., Page]) -> list[Any]:
    return list_page(db.session, _workspace_id(), include_archived=True).items


def _choices(named: Mapping[int, Named], selected: Iterable[str], empty: str) -> list[SelectChoice]:
    """Live objects, plus archived ones already chosen (their ads keep running)."""
    chosen = set(selected)
    options = [SelectChoice("", empty)]
    options += [
        SelectChoice(str(n.id), n.label, render_kw=dict(n.extra))
        for n in sorted(named.values(), key=lambda n: n.name.lower())
        if not n.archived or str(n.id) in chosen
    ]
    return options


def _ref_ids(path: forms.PathFields, group: str) -> list[str]:
    return [row.form.id.data or "" for row in path[group]]


def _network_extra(network: AffiliateNetwork) -> dict[str, str]:
    suffix = urls.offer_url_hint(network)
    return {"data-suffix": suffix} if suffix else {}


@dataclass(frozen=True)
class PathView:
    """A path as the pages show it: names, weights and each one's share."""

    weight: int
    name: str
    redirect_mode: str | None
    landers: list[tuple[Named | None, int, str]]
    offers: list[tuple[Named | None, int, str]]


def _shares(
    refs: list[Mapping[str, Any]], names: Mapping[int, Named]
) -> list[tuple[Named | None, int, str]]:
    weights = [int(r.get("weight", 100)) for r in refs]
    total = sum(weights)
    return [
        (
            names.get(int(r["id"])),
            w,
            forms.percent(w, total) if total else "",
        )
        for r, w in zip(refs, weights, strict=True)
    ]


def path_view(
    path: Mapping[str, Any] | None, landers: Mapping[int, Named], offers: Mapping[int, Named]
) -> PathView:
    """A stored PATH with the names of its landers and offers."""
    path = path or {}
    return PathView(
        weight=int(path.get("weight", 100)),
        name=str(path.get("name") or ""),
        redirect_mode=path.get("redirect_mode"),
        landers=_shares(list(path.get("landers", [])), landers),
        offers=_shares(list(path.get("offers", [])), offers),
    )


# --- one kind of setup object --------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """A kind of setup object: its services, form, templates and page-specific context."""

    name: str  # offer: endpoint prefix
    plural: str  # offers: list endpoint and URL segment
    label: str  # offer
    form: type[FlaskForm]
    create: Callable[..., Any]
    update: Callable[..., Any]
    get: Callable[..., Any]
    archive: Callable[..., Any]
    restore: Callable[..., Any]
    list_page: Callable[..., Page]
    # The object (or None) as the form's data.
    initial: Callable[[Any], dict[str, Any]]
    # Choices, blank rows: what a form needs before it is validated or shown.
    prepare: Callable[[Any, Any], None]
    # Extra context of the form page (presets, postback URL...), given the form and object.
    form_context: Callable[[Any, Any], dict[str, Any]]
    # Extra context of the list page, given its objects.
    list_context: Callable[[list[Any]], dict[str, Any]]
    archive_effect: str  # what archiving does to what already runs
    after_save: Callable[[Any], str] | None = None
    # The report dimension whose figures the list shows beside each object (None: no figures).
    metrics_entity: str | None = None
    # A form-only change (a row button of a page without JavaScript: add, remove, move a row):
    # the submitted form changed, to show again unsaved; None when it asks to save.
    rearrange: Callable[[Any], Any] | None = None

    @property
    def title(self) -> str:
        return self.label[:1].upper() + self.label[1:]

    @property
    def url(self) -> str:
        return "/" + self.plural.replace("_", "-")


def _nothing(*_args: Any) -> dict[str, Any]:
    return {}


def _no_prepare(_form: Any, _obj: Any) -> None:
    return None


# traffic sources


def _source_initial(source: TrafficSource | None) -> dict[str, Any]:
    if source is None:
        return forms.traffic_source_initial({})
    shown = services.describe_traffic_source(source).model_dump()
    return forms.traffic_source_initial(shown)


def _source_form_context(
    form: forms.TrafficSourceForm, source: TrafficSource | None
) -> dict[str, Any]:
    preset_id = (source.preset if source else form.preset.data) or ""
    preset = _source_preset(preset_id)
    return {
        "presets": presets.traffic_source_presets(),
        "preset": preset,
        "tokens": SOURCE_POSTBACK_TOKENS,
        "tracking_parameters": (
            services.describe_traffic_source(source).tracking_parameters if source else ""
        ),
    }


def _source_preset(preset_id: str) -> presets.TrafficSourcePreset | None:
    try:
        return presets.traffic_source_preset(preset_id) if preset_id else None
    except presets.UnknownPreset:
        return None


def _sources_list_context(items: list[TrafficSource]) -> dict[str, Any]:
    return {"described": {s.id: services.describe_traffic_source(s) for s in items}}


# affiliate networks


def _network_initial(network: AffiliateNetwork | None) -> dict[str, Any]:
    if network is None:
        return forms.affiliate_network_initial({})
    shown = services.describe_affiliate_network(network, _base_url()).model_dump()
    return forms.affiliate_network_initial(shown)


def _network_preset(preset_id: str) -> presets.AffiliateNetworkPreset | None:
    try:
        return presets.affiliate_network_preset(preset_id) if preset_id else None
    except presets.UnknownPreset:
        return None


def _network_form_context(
    form: forms.AffiliateNetworkForm, network: AffiliateNetwork | None
) -> dict[str, Any]:
    preset = _network_preset((network.preset if network else form.preset.data) or "")
    if preset:
        postback_url = urls.preset_postback_url(_base_url(), preset)
    else:  # a network of its own: the URL with markers where its macros go
        postback_url = urls.network_postback_url(_base_url(), AffiliateNetwork())
    return {
        "presets": presets.affiliate_network_presets(),
        "preset": preset,
        "preset_postback_url": postback_url,
        "described": (
            services.describe_affiliate_network(network, _base_url()) if network else None
        ),
    }


def _networks_list_context(items: list[AffiliateNetwork]) -> dict[str, Any]:
    base = _base_url()
    return {"described": {n.id: services.describe_affiliate_network(n, base) for n in items}}


# offers


def _offer_initial(offer: Offer | None) -> dict[str, Any]:
    return forms.offer_initial(services.describe_offer(offer).model_dump() if offer else {})


def _offer_prepare(form: forms.OfferForm, _offer: Offer | None) -> None:
    networks = _named(_all(services.list_affiliate_networks), _network_extra)
    form.affiliate_network_id.choices = _choices(
        networks, [form.affiliate_network_id.data or ""], "— none —"
    )


def _offer_form_context(form: forms.OfferForm, _offer: Offer | None) -> dict[str, Any]:
    suffix = ""
    for choice in form.affiliate_network_id.choices or []:
        if isinstance(choice, SelectChoice) and choice.value == form.affiliate_network_id.data:
            suffix = choice.render_kw.get("data-suffix", "")
    return {"tokens": URL_TOKENS, "network_suffix": suffix}


def _offers_list_context(_items: list[Offer]) -> dict[str, Any]:
    return {"networks": _named(_all(services.list_affiliate_networks))}


# landers


def _lander_initial(lander: Lander | None) -> dict[str, Any]:
    return forms.lander_initial(services.describe_lander(lander).model_dump() if lander else {})


def _lander_form_context(_form: Any, _lander: Lander | None) -> dict[str, Any]:
    return {"tokens": URL_TOKENS, "click_url": _base_url() + "/click"}


# flows


def _flow_initial(flow: Flow | None) -> dict[str, Any]:
    return flow_form.flow_initial(services.describe_flow(flow).model_dump() if flow else {})


def _path_pickers(
    paths: Iterable[forms.PathFields],
) -> tuple[list[SelectChoice], list[SelectChoice]]:
    paths = list(paths)
    landers = _named(_all(services.list_landers))
    offers = _named(_all(services.list_offers))
    used_landers = [i for p in paths for i in _ref_ids(p, "landers")]
    used_offers = [i for p in paths for i in _ref_ids(p, "offers")]
    return (
        _choices(landers, used_landers, "— lander —"),
        _choices(offers, used_offers, "— offer —"),
    )


def _account_zone() -> str:
    settings: Any = current_app.config["SETTINGS"]
    return str(settings.timezone)


def _flow_prepare(form: flow_form.FlowForm, _flow: Flow | None) -> None:
    form.pad()
    form.var_names = flow_editor.var_labels(db.session, _workspace_id())
    form.set_choices(
        *_path_pickers(form.all_paths()),
        flow_form.field_choices(form.var_names),
        flow_form.timezone_choices(
            _account_zone(), flow_editor.COMMON_TIMEZONES, form.chosen_timezones()
        ),
    )


def _flow_form_context(form: flow_form.FlowForm, flow: Flow | None) -> dict[str, Any]:
    campaigns = (
        flow_editor.campaigns_using_flow(db.session, _workspace_id(), flow.id) if flow else []
    )
    has_test_visit = TEST_VISIT_ENDPOINT in current_app.view_functions
    return {
        "catalog": flow_editor.field_catalog(form.var_names),
        "value_lists": flow_editor.value_lists(db.session, _workspace_id(), utcnow()),
        "blank_rule": form.blank_rule() if _can_edit() else None,
        "flow_shares": flow_form.shares,
        "campaigns": campaigns,
        "test_visit_endpoint": TEST_VISIT_ENDPOINT if has_test_visit else None,
    }


def _flow_saver(save: Callable[..., Flow]) -> Callable[..., Flow]:
    """A flow service whose messages are put in the editor's words (``readable_errors``)."""

    def saving(session: Any, workspace_id: int, *args: Any) -> Flow:
        try:
            return save(session, workspace_id, *args)
        except InvalidSetup as exc:
            readable = flow_form.readable_errors(exc.fields, args[-1])
            raise InvalidSetup(exc.message, readable) from exc

    return saving


def _flows_list_context(items: list[Flow]) -> dict[str, Any]:
    landers, offers = _path_names()
    return {
        "paths": {
            f.id: [path_view(p, landers, offers) for p in f.default_paths or []] for f in items
        }
    }


# campaigns


def _campaign_initial(campaign: Campaign | None) -> dict[str, Any]:
    if campaign is None:
        return forms.campaign_initial({})
    shown = services.describe_campaign(db.session, campaign, _base_url()).model_dump()
    return forms.campaign_initial(shown)


def _campaign_prepare(form: forms.CampaignForm, _campaign: Campaign | None) -> None:
    form.pad()
    form.set_choices(*_path_pickers([form.path.form]))
    sources = _named(_all(services.list_traffic_sources))
    flows = _named(_all(services.list_flows))
    form.traffic_source_id.choices = _choices(
        sources, [form.traffic_source_id.data or ""], "— pick a traffic source —"
    )
    form.flow_id.choices = _choices(flows, [form.flow_id.data or ""], "— pick a flow —")


def _campaign_form_context(form: forms.CampaignForm, _campaign: Campaign | None) -> dict[str, Any]:
    model = form.cost_model.data or CostModel.NONE.value
    return {
        "cost_hint": forms.COST_MODEL_HINTS.get(CostModel(model), "")
        if model in {m.value for m in CostModel}
        else "",
        "has_sources": len(form.traffic_source_id.choices or []) > 1,
        "has_offers": any(len(row.form.id.choices or []) > 1 for row in form.path.form.offers),
    }


def _path_names() -> tuple[dict[int, Named], dict[int, Named]]:
    """Every lander and offer of the workspace by id, for path summaries."""
    return _named(_all(services.list_landers)), _named(_all(services.list_offers))


def _campaigns_list_context(items: list[Campaign]) -> dict[str, Any]:
    landers, offers = _path_names()
    return {
        "described": {
            c.id: d
            for c, d in zip(
                items, services.describe_campaigns(db.session, items, _base_url()), strict=True
            )
        },
        "sources": _named(_all(services.list_traffic_sources)),
        "flows": _named(_all(services.list_flows)),
        "paths": {c.id: path_view(c.path, landers, offers) for c in items if c.path},
    }


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            name="traffic_source",
            metrics_entity="traffic_source",
            plural="traffic_sources",
            label="traffic source",
            form=forms.TrafficSourceForm,
            create=services.create_traffic_source,
            update=services.update_traffic_source,
            get=services.get_traffic_source,
            archive=services.archive_traffic_source,
            restore=services.restore_traffic_source,
            list_page=services.list_traffic_sources,
            initial=_source_initial,
            prepare=_no_prepare,
            form_context=_source_form_context,
            list_context=_sources_list_context,
            archive_effect="Campaigns that use it keep running and keep reading its parameters.",
        ),
        Kind(
            name="affiliate_network",
            plural="affiliate_networks",
            label="affiliate network",
            form=forms.AffiliateNetworkForm,
            create=services.create_affiliate_network,
            update=services.update_affiliate_network,
            get=services.get_affiliate_network,
            archive=services.archive_affiliate_network,
            restore=services.restore_affiliate_network,
            list_page=services.list_affiliate_networks,
            initial=_network_initial,
            prepare=_no_prepare,
            form_context=_network_form_context,
            list_context=_networks_list_context,
            archive_effect="Its offers keep working and its postbacks are still accepted.",
            after_save=lambda network: url_for(
                "setup.affiliate_network_edit", object_id=network.id
            ),
        ),
        Kind(
            name="offer",
            metrics_entity="offer",
            plural="offers",
            label="offer",
            form=forms.OfferForm,
            create=services.create_offer,
            update=services.update_offer,
            get=services.get_offer,
            archive=services.archive_offer,
            restore=services.restore_offer,
            list_page=services.list_offers,
            initial=_offer_initial,
            prepare=_offer_prepare,
            form_context=_offer_form_context,
            list_context=_offers_list_context,
            archive_effect="Campaigns and flows that send visitors to it keep doing so.",
        ),
        Kind(
            name="lander",
            metrics_entity="lander",
            plural="landers",
            label="lander",
            form=forms.LanderForm,
            create=services.create_lander,
            update=services.update_lander,
            get=services.get_lander,
            archive=services.archive_lander,
            restore=services.restore_lander,
            list_page=services.list_landers,
            initial=_lander_initial,
            prepare=_no_prepare,
            form_context=_lander_form_context,
            list_context=_nothing,
            archive_effect="Campaigns and flows that send visitors to it keep doing so.",
        ),
        Kind(
            name="flow",
            plural="flows",
            label="flow",
            form=flow_form.FlowForm,
            create=_flow_saver(services.create_flow),
            update=_flow_saver(services.update_flow),
            get=services.get_flow,
            archive=services.archive_flow,
            restore=services.restore_flow,
            list_page=services.list_flows,
            initial=_flow_initial,
            prepare=_flow_prepare,
            form_context=_flow_form_context,
            list_context=_flows_list_context,
            archive_effect="Campaigns that use it keep routing through it.",
            rearrange=lambda form: form.rearranged(),
        ),
        Kind(
            name="campaign",
            metrics_entity="campaign",
            plural="campaigns",
            label="campaign",
            form=forms.CampaignForm,
            create=services.create_campaign,
            update=services.update_campaign,
            get=services.get_campaign,
            archive=services.archive_campaign,
            restore=services.restore_campaign,
            list_page=services.list_campaigns,
            initial=_campaign_initial,
            prepare=_campaign_prepare,
            form_context=_campaign_form_context,
            list_context=_campaigns_list_context,
            archive_effect="Its URL keeps redirecting (ads keep working) and reports keep it.",
            after_save=lambda campaign: url_for("setup.campaign", object_id=campaign.id),
        ),
    )
}


# --- the pages ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pager:
    """Where a list page is: its number, the last one, and links to its neighbours."""

    page: int
    last: int
    total: int
    prev_url: str | None
    next_url: str | None


def _page_number() -> int:
    return parse_page(request.args.get("page"))


def _list_args() -> dict[str, Any]:
    return {
        "q": request.args.get("q", "").strip()[:200],
        "archived": request.args.get("archived") == "1",
    }


# The figures a list shows beside each object, in this order.
LIST_METRICS: tuple[MetricSpec, ...] = tuple(
    METRIC_BY_NAME[name]
    for name in ("visits", "clicks", "conversions", "revenue", "cost", "profit", "roi", "epv")
)


def _picked_range() -> DayRange:
    """The list's date range from ``range`` (and ``from``/``to``), in the account's zone."""
    settings: Any = current_app.config["SETTINGS"]
    return pick_range(
        request.args.get("range"),
        request.args.get("from"),
        request.args.get("to"),
        today_in(settings.zone),
    )


def _list_metrics(kind: Kind, items: list[Any], picked: DayRange) -> dict[int, Any]:
    """Every figure of the page's objects over the range: one report for the whole page."""
    if kind.metrics_entity is None or not items:
        return {}
    found = metrics_by_entity(
        db.session,
        _workspace_id(),
        kind.metrics_entity,
        [obj.id for obj in items],
        picked.date_from,
        picked.date_to,
        _account_zone(),
    )
    nothing = Metrics.from_sums(Sums())  # no visits in the range: zeros, ratios undefined
    return {obj.id: found.get(obj.id, nothing) for obj in items}


def _list(kind: Kind) -> ResponseReturnValue:
    args = _list_args()
    number = _page_number()
    if kind.metrics_entity:
        # The worker keeps the rollups fresh; when it does not run, the figures still add up.
        # Before the page's objects are read: the commit would expire them one by one.
        refresh_if_stale(db.session)
        db.session.commit()
    found = kind.list_page(
        db.session,
        _workspace_id(),
        include_archived=args["archived"],
        limit=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
        name_contains=args["q"] or None,
    )
    last = max(1, -(-found.total // PAGE_SIZE))
    picked = _picked_range() if kind.metrics_entity else None
    kept: dict[str, Any] = {
        "q": args["q"] or None,
        "archived": "1" if args["archived"] else None,
        **(picked.url_args() if picked else {}),
    }

    def page_url(n: int) -> str:
        return url_for(request.endpoint or "", page=n, **kept)

    pager = Pager(
        page=number,
        last=last,
        total=found.total,
        prev_url=page_url(number - 1) if number > 1 else None,
        next_url=page_url(number + 1) if number < last else None,
    )
    return render_template(
        f"setup/{kind.plural}.html",
        kind=kind,
        items=found.items,
        pager=pager,
        q=args["q"],
        show_archived=args["archived"],
        archive_form=ArchiveForm(),
        picked=picked,
        ranges=RANGES,
        metric_columns=LIST_METRICS if picked else (),
        metrics=_list_metrics(kind, found.items, picked) if picked else {},
        report_url=_report_link(kind, picked),
        **kind.list_context(found.items),
    )


def _report_link(kind: Kind, picked: DayRange | None) -> Callable[[int], str] | None:
    """A row's figures open the report of that object, by day, over the same range."""
    if picked is None or kind.metrics_entity is None:
        return None
    entity = kind.metrics_entity

    def link(object_id: int) -> str:
        values: dict[str, Any] = {
            "group_by": "day",
            f"{entity}_id": object_id,
            "from": picked.date_from.isoformat(),
            "to": picked.date_to.isoformat(),
        }
        return url_for("reports.index", **values)

    return link


def _render_form(
    kind: Kind,
    form: FlaskForm,
    obj: Any,
    errors: FormErrors,
    status: int = 200,
) -> ResponseReturnValue:
    return render_template(
        f"setup/{kind.name}_form.html",
        kind=kind,
        form=form,
        obj=obj,
        errors=errors,
        archive_form=ArchiveForm(),
        readonly=obj is not None and not _can_edit(),
        **kind.form_context(form, obj),
    ), status


def _preset_initial(kind: Kind, errors: FormErrors) -> tuple[dict[str, Any], int]:
    """A new source's or network's form filled from ``?preset=<id>``."""
    preset_id = request.args.get("preset", "").strip()
    try:
        if preset_id and kind.name == "traffic_source":
            chosen = presets.traffic_source_preset(preset_id)
            return forms.traffic_source_initial(chosen.fields(), chosen.id), 200
        if preset_id and kind.name == "affiliate_network":
            picked = presets.affiliate_network_preset(preset_id)
            return forms.affiliate_network_initial(picked.fields(), picked.id), 200
    except presets.UnknownPreset as exc:
        errors.by_key["preset"] = [str(exc).capitalize() + "."]
        return kind.initial(None), 400
    return kind.initial(None), 200


def _save(kind: Kind, obj: Any) -> ResponseReturnValue:
    """Validate a submitted form, hand it to the service, and answer (form again on errors)."""
    form = kind.form()
    kind.prepare(form, obj)
    errors = FormErrors()
    if not form.validate():  # a choice that is none of the offered ones
        return _render_form(kind, form, obj, errors, 400)
    changed = kind.rearrange(form) if kind.rearrange else None
    if changed is not None:
        kind.prepare(changed, obj)
        return _render_form(kind, changed, obj, FormErrors())
    data = form.to_data(errors, creating=obj is None)
    try:
        if obj is None:
            saved = kind.create(db.session, _workspace_id(), data)
        else:
            saved = kind.update(db.session, _workspace_id(), obj.id, data)
    except InvalidSetup as exc:
        db.session.rollback()
        errors.attach(exc.fields)
        return _render_form(kind, form, obj, errors, 422)
    db.session.commit()
    flash(f"{kind.title} “{saved.name}” {'created' if obj is None else 'saved'}.", "success")
    return redirect(kind.after_save(saved) if kind.after_save else url_for(f"setup.{kind.plural}"))


def _new(kind: Kind) -> ResponseReturnValue:
    if request.method == "POST":
        return _save(kind, None)
    errors = FormErrors()
    initial, status = _preset_initial(kind, errors)
    form = kind.form(data=initial)
    kind.prepare(form, None)
    return _render_form(kind, form, None, errors, status)


def _edit(kind: Kind, object_id: int) -> ResponseReturnValue:
    obj = kind.get(db.session, _workspace_id(), object_id)
    form = kind.form(data=kind.initial(obj))
    kind.prepare(form, obj)
    return _render_form(kind, form, obj, FormErrors())


def _update(kind: Kind, object_id: int) -> ResponseReturnValue:
    return _save(kind, kind.get(db.session, _workspace_id(), object_id))


def _archive_or_restore(kind: Kind, object_id: int, archive: bool) -> ResponseReturnValue:
    form = ArchiveForm()
    if not form.validate_on_submit():
        abort(400, description="The form expired; reload the page and try again.")
    action = kind.archive if archive else kind.restore
    obj = action(db.session, _workspace_id(), object_id)
    db.session.commit()
    if archive:
        flash(f"{kind.title} “{obj.name}” archived. {kind.archive_effect}", "success")
    else:
        flash(f"{kind.title} “{obj.name}” restored.", "success")
    if kind.name == "campaign":
        return redirect(url_for("setup.campaign", object_id=obj.id))
    return redirect(url_for(f"setup.{kind.plural}", archived="1" if archive else None))


def _register(kind: Kind) -> None:
    item = f"{kind.url}/<int:object_id>"

    def list_view() -> ResponseReturnValue:
        return _list(kind)

    def new_view() -> ResponseReturnValue:
        return _new(kind)

    def edit_view(object_id: int) -> ResponseReturnValue:
        return _edit(kind, object_id)

    def update_view(object_id: int) -> ResponseReturnValue:
        return _update(kind, object_id)

    def archive_view(object_id: int) -> ResponseReturnValue:
        return _archive_or_restore(kind, object_id, archive=True)

    def restore_view(object_id: int) -> ResponseReturnValue:
        return _archive_or_restore(kind, object_id, archive=False)

    list_view.__doc__ = f"The workspace's {kind.label}s: search, archived ones on demand."
    new_view.__doc__ = f"Create a {kind.label}."
    edit_view.__doc__ = f"A {kind.label}'s form (read-only for viewers)."
    update_view.__doc__ = f"Save a {kind.label}'s form."
    archive_view.__doc__ = f"Archive a {kind.label}: {kind.archive_effect}"
    restore_view.__doc__ = f"Bring an archived {kind.label} back."

    buyer = role_required(Role.BUYER)
    routes: list[tuple[str, str, Callable[..., ResponseReturnValue], list[str]]] = [
        (kind.url, kind.plural, list_view, ["GET"]),
        (f"{kind.url}/new", f"{kind.name}_new", buyer(new_view), ["GET", "POST"]),
        (f"{item}/edit", f"{kind.name}_edit", edit_view, ["GET"]),
        (f"{item}/edit", f"{kind.name}_update", buyer(update_view), ["POST"]),
        (f"{item}/archive", f"{kind.name}_archive", buyer(archive_view), ["POST"]),
        (f"{item}/restore", f"{kind.name}_restore", buyer(restore_view), ["POST"]),
    ]
    for rule, endpoint, view, methods in routes:
        setup_bp.add_url_rule(rule, endpoint=endpoint, view_func=view, methods=methods)
        NAV_SECTIONS[f"setup.{endpoint}"] = f"setup.{kind.plural}"


for _kind in KINDS.values():
    _register(_kind)


@setup_bp.get("/campaigns/<int:object_id>")
def campaign(object_id: int) -> ResponseReturnValue:
    """A campaign's page: the URL to paste into the ad platform, its destination, its set-up,
    and its figures for today, yesterday, the last 7 and 30 days."""
    refresh_if_stale(db.session)  # before reading the campaign: the commit expires objects
    db.session.commit()
    found = services.get_campaign(db.session, _workspace_id(), object_id)
    shown = services.describe_campaign(db.session, found, _base_url())
    landers, offers = _path_names()
    source = _named(_all(services.list_traffic_sources)).get(found.traffic_source_id)
    flow = services.get_flow(db.session, _workspace_id(), found.flow_id) if found.flow_id else None
    return render_template(
        "setup/campaign.html",
        kind=KINDS["campaign"],
        campaign=found,
        shown=shown,
        source=source,
        flow=flow,
        flow_paths=[path_view(p, landers, offers) for p in (flow.default_paths if flow else [])],
        flow_rules=len(flow.rules or []) if flow else 0,
        path=path_view(found.path, landers, offers) if found.path else None,
        cost_label=forms.COST_MODEL_LABELS[found.cost_model],
        redirect_label=dict((c.value, c.label) for c in forms.REDIRECT_MODE_CHOICES).get(
            found.redirect_mode.value, found.redirect_mode.value
        ),
        archive_form=ArchiveForm(),
        # The "test a visit" page, where the app has it: routing explained, nothing recorded.
        test_visit_url=(
            url_for(TEST_VISIT_ENDPOINT, campaign_id=found.id)
            if TEST_VISIT_ENDPOINT in current_app.view_functions
            else None
        ),
        metric_columns=LIST_METRICS,
        figures=_campaign_figures(found.id),
    )


def _campaign_figures(campaign_id: int) -> list[tuple[DayRange, Metrics]]:
    """The campaign's figures over each preset range, newest first."""
    settings: Any = current_app.config["SETTINGS"]
    today = today_in(settings.zone)
    result = []
    for key, _label in RANGES:
        if key == "custom":
            continue
        picked = pick_range(key, None, None, today)
        found = metrics_by_entity(
            db.session,
            _workspace_id(),
            "campaign",
            [campaign_id],
            picked.date_from,
            picked.date_to,
            _account_zone(),
        )
        result.append((picked, found.get(campaign_id, Metrics.from_sums(Sums()))))
    return result
