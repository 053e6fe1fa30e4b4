"""Case runner + certificate service: the case file's ``certificates:`` requests are stored with
fees, 支援措置 lines are stopped and audited, each accepted request leaves its 交付請求書 PDF."""

from __future__ import annotations

import io
import json
from pathlib import Path

from pypdf import PdfReader
from sqlalchemy import select

from madoguchi.services import case_runner
from madoguchi.store.models import AuditEvent, CertificateRequestRow

CASES = Path(__file__).parent / "cases"


def _run(db, name: str, out: Path) -> dict:
    spec = case_runner.load_case_file(CASES / name)
    case_runner.seed_fixture(db, spec)
    case_runner.ensure_staff(db, case_runner._actor(spec, demo=True))
    return case_runner.run_case(db, spec, out, demo=True, output_steps=())


def _text(pdf: Path) -> str:
    return "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf.read_bytes())).pages).replace(
        "\n", "").replace(" ", "").replace("\u3000", "")


def test_self_and_household_requests(tmp_path):
    db = case_runner.demo_database(tmp_path)
    out = tmp_path / "out"
    summary = _run(db, "cert_honnin.yaml", out)
    assert summary["expect"] == {"ok": True, "problems": []}
    step = next(s for s in summary["steps"] if s["step"] == "certificates")
    first, second = step["requests"]
    assert [(x["kind_id"], x["copies"], x["fee"]) for x in first["stored"]] == [
        ("juminhyo.zenbu", 2, 600), ("inkan.shoumei", 1, 300), ("zei.shotoku", 2, 600)]
    assert first["fee_total"] == 1500 and second["fee_total"] == 300
    assert second["stored"][0]["options"] == ["個人番号の記載"]
    text = _text(out / first["form"])
    for s in ("証明書交付請求書", "住民票の写し（世帯全員）", "印鑑登録証明書", "所得証明書", "1,500円", "5通",
              "住宅ローンの申込み", "見本"):
        assert s in text, s
    assert "1,500円" not in _text(out / second["form"])
    kinds = [e["kind"] for e in summary["timeline"]]
    assert kinds.count("certificate") == 2 and summary["status"] == "done"
    stored = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [s["fee_total"] for s in stored["steps"] if s["step"] == "certificates"] == [1800]
    db.dispose()


def test_protected_person_and_proxy(tmp_path):
    db = case_runner.demo_database(tmp_path)
    out = tmp_path / "out"
    summary = _run(db, "cert_shien.yaml", out)
    assert summary["expect"] == {"ok": True, "problems": []}
    step = next(s for s in summary["steps"] if s["step"] == "certificates")
    rejected, accepted = step["requests"]
    assert rejected["errors"] == ["代理人による請求には委任状が必要です。"] and rejected["stored"] == []
    assert [(x["kind_id"], x["subject"]) for x in accepted["stored"]] == [("juminhyo.ichibu", "600002"),
                                                                         ("koseki.zenbu", "600001")]
    assert accepted["refused"] == [{"kind_id": "juminhyo.ichibu", "atena_no": "600001"}]
    assert accepted["message"].startswith("交付制限対象です（担当者確認）")
    with db.session() as s:
        rows = s.scalars(select(CertificateRequestRow)).all()
        assert {(r.kind_id, r.subject_atena_no) for r in rows} == {("juminhyo.ichibu", "600002"),
                                                                 ("koseki.zenbu", "600001")}
        refused = s.scalars(select(AuditEvent).where(AuditEvent.action == "certificate.refused")).all()
    assert len(refused) == 1 and '"atena_no": "600001"' in refused[0].detail
    # The protected person's address appears nowhere: not in the log, the summary or the form.
    files = [refused[0].detail, (out / "summary.json").read_text(encoding="utf-8"), _text(out / accepted["form"])]
    assert not any("5番1号" in f for f in files)
    assert "代理人の本人確認" in [e["summary"][:8] for e in summary["timeline"]]
    db.dispose()


def test_expectation_mismatch_is_reported(tmp_path):
    spec = case_runner.load_case_file(CASES / "cert_honnin.yaml")
    spec["expect"]["certificates"]["fee_total"] = 999
    db = case_runner.demo_database(tmp_path)
    case_runner.seed_fixture(db, spec)
    summary = case_runner.run_case(db, spec, tmp_path / "out", demo=True, output_steps=())
    assert summary["expect"]["problems"] == ["証明書の手数料合計が 1800（期待 999）です。"]
    db.dispose()
