"""Regenerate the example images the README uses (deterministic; run from the repo root):

    .venv/bin/python examples/make_examples.py

Receipts go to examples/data/2026-11/shop1/ (JPEG, the folder batch under DATA_ROOT=examples/data),
invoices to examples/invoices/ (PNG). examples/receipts-gt.json holds the receipts' ground truth.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
SHOP = HERE / "data" / "2026-11" / "shop1"
INVOICES = HERE / "invoices"

RECEIPTS = [
    ("r01.jpg", "2026-11-03", [("Nasi goreng", "18.000"), ("Es teh manis", "6.000"), ("Kerupuk", "3.000")],
     "27.000", "2.700", "50.000"),
    ("r02.jpg", "2026-11-04", [("Mie ayam", "15.000"), ("Kopi susu", "8.000")], "23.000", "2.300", "30.000"),
    ("r03.jpg", "2026-11-05", [("Sate ayam x2", "32.000"), ("Lontong", "5.000"), ("Jeruk hangat", "7.000")],
     "44.000", "4.400", "50.000"),
]
INVOICE_ROWS = [
    ("inv01.png", "INV-2026-0117", "2026-11-10", "2026-12-10",
     [("Steel pipe 57x3.5 mm, m", 120, "4.20"), ("Flange DN50", 8, "11.50")]),
    ("inv02.png", "INV-2026-0118", "2026-11-12", "2026-12-12", [("Welding wire 1.2 mm, kg", 45, "3.10")]),
]


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _idr(text: str) -> Decimal:
    return Decimal(text.replace(".", ""))


def _fmt_idr(value: Decimal) -> str:
    return f"{int(value):,}".replace(",", ".")


def receipt(items: list[tuple[str, str]], day: str, tax: str, cash: str) -> tuple[Image.Image, dict[str, str]]:
    subtotal = sum((_idr(price) for _, price in items), Decimal(0))
    total = subtotal + _idr(tax)
    fields = {"subtotal": _fmt_idr(subtotal), "tax": tax, "total": _fmt_idr(total), "cash": cash,
              "change": _fmt_idr(_idr(cash) - total)}
    img = Image.new("RGB", (360, 470), "white")
    draw = ImageDraw.Draw(img)
    big, small = _font(22), _font(16)
    draw.text((180, 24), "WARUNG SEDERHANA", font=big, fill="black", anchor="mt")
    draw.text((180, 54), "Jl. Merdeka 12, Bandung", font=small, fill="black", anchor="mt")
    draw.text((20, 90), f"{day}  12:41", font=small, fill="black")
    y = 130
    for name, price in items:
        draw.text((20, y), name, font=small, fill="black")
        draw.text((340, y), price, font=small, fill="black", anchor="ra")
        y += 28
    draw.line((20, y + 4, 340, y + 4), fill="black", width=1)
    y += 16
    for label, key in (("Subtotal", "subtotal"), ("PB1 10%", "tax"), ("TOTAL", "total"), ("Cash", "cash"),
                       ("Change", "change")):
        draw.text((20, y), label, font=big if key == "total" else small, fill="black")
        draw.text((340, y), fields[key], font=big if key == "total" else small, fill="black", anchor="ra")
        y += 32 if key == "total" else 26
    draw.text((180, y + 20), "Terima kasih", font=small, fill="black", anchor="mt")
    return img, {"total": fields["total"], "subtotal": fields["subtotal"], "tax": fields["tax"],
                 "cash": fields["cash"], "change": fields["change"]}


def invoice(number: str, issued: str, due: str, rows: list[tuple[str, int, str]]) -> Image.Image:
    img = Image.new("RGB", (560, 400), "white")
    draw = ImageDraw.Draw(img)
    big, small = _font(24), _font(16)
    draw.text((24, 20), "INVOICE", font=big, fill="black")
    draw.text((536, 24), number, font=small, fill="black", anchor="ra")
    draw.text((24, 64), "Vendor: Ural Pipe Works LLC, Chelyabinsk", font=small, fill="black")
    draw.text((24, 88), "Customer: Nordbau GmbH, Hamburg", font=small, fill="black")
    draw.text((24, 112), f"Issued {issued}    Due {due}    Currency EUR", font=small, fill="black")
    y = 156
    draw.text((24, y), "Item", font=small, fill="black")
    draw.text((380, y), "Qty", font=small, fill="black", anchor="ra")
    draw.text((460, y), "Price", font=small, fill="black", anchor="ra")
    draw.text((536, y), "Amount", font=small, fill="black", anchor="ra")
    subtotal = Decimal(0)
    for name, qty, price in rows:
        y += 28
        amount = Decimal(price) * qty
        subtotal += amount
        draw.text((24, y), name, font=small, fill="black")
        draw.text((380, y), str(qty), font=small, fill="black", anchor="ra")
        draw.text((460, y), price, font=small, fill="black", anchor="ra")
        draw.text((536, y), f"{amount:.2f}", font=small, fill="black", anchor="ra")
    tax = (subtotal * Decimal("0.19")).quantize(Decimal("0.01"))
    y += 40
    for label, value in (("Subtotal", subtotal), ("VAT 19%", tax), ("Total", subtotal + tax)):
        draw.text((460, y), label, font=small, fill="black", anchor="ra")
        draw.text((536, y), f"{value:.2f}", font=small, fill="black", anchor="ra")
        y += 26
    return img


def main() -> None:
    SHOP.mkdir(parents=True, exist_ok=True)
    INVOICES.mkdir(parents=True, exist_ok=True)
    truth = []
    for name, day, items, _subtotal, tax, cash in RECEIPTS:
        img, fields = receipt(items, day, tax, cash)
        assert fields["subtotal"] == _subtotal, (name, fields)
        img.save(SHOP / name, "JPEG", quality=80, optimize=True)
        truth.append({"file": name, **fields})
    for name, number, issued, due, rows in INVOICE_ROWS:
        invoice(number, issued, due, rows).convert("L").save(INVOICES / name, "PNG", optimize=True)
    (HERE / "receipts-gt.json").write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
