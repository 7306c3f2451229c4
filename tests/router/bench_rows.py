"""Constructed request rows for the report, CLI and plot tests."""

from router.store import REQUEST_COLUMNS


def row(
    i,
    *,
    region="Europe",
    site="ireland",
    e2e=1000.0,
    ttft=200.0,
    tpot=10.0,
    status="ok",
    at=None,
    out=100,
    energy=50.0,
    cost=0.002,
    **kw,
):
    r = dict.fromkeys(REQUEST_COLUMNS)
    r.update(
        run_id="r1",
        request_id=f"q{i}",
        arrived_at=float(i) if at is None else at,
        client_place="Paris" if region == "Europe" else "Singapore",
        client_region=region,
        client_lat=0.0,
        client_lon=0.0,
        site=site,
        policy="fastest",
        prompt_tokens=1000,
        output_tokens=out,
        net_up_ms=20.0,
        net_down_ms=20.0,
        handshake_ms=40.0,
        router_ms=0.0,
        queue_ms=5.0,
        prefill_ms=ttft - 45.0,
        decode_ms=e2e - ttft - 40.0,
        ttft_ms=ttft,
        tpot_ms=tpot,
        e2e_ms=e2e,
        status=status,
        error="" if status == "ok" else "boom",
        retries=0,
        energy_j=energy,
        cost_usd=cost,
    )
    r.update(kw)
    return r
