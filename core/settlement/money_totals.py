"""A cycle's money: payable to the supplier, receivable from each partner, the platform's margin, and
the double-entry journal that records them (debits equal credits in every currency).

Per order (amounts are Decimal; rounding happens once, here, half up to the currency's minor unit):
- CONFIRMED: payable = net_amount (net currency); receivable = sell_amount × (1 − commission_pct/100)
  rounded; margin = receivable − net (× fx_rate into the sell currency when the currencies differ,
  through the `fx_clearing` account so each currency balances on its own).
- CANCELLED: payable = the supplier's cancellation fee (recorded on the cancellation event, in the
  net currency; 0 when none); receivable = the partner's `cancellation_fee` (sell currency, no
  commission); margin = the difference (converted at fx_rate when the currencies differ).

The margin is also reported in the supplier's (net) currency, margin ÷ fx_rate, and in the platform's currency
(DEFAULT_CURRENCY), the net-currency margin × the order's `platform_fx_rate`: both at the rates the order was
priced with (stored on the order, migration 0028), so a later rate load changes neither. An order stored before
0028 has no platform rate and is left out of the platform-currency margin unless a currency of its own is it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from core.money import exponent
from core.settlement.amounts import format_decimal

ZERO = Decimal(0)
FOUR = Decimal("0.0001")


@dataclass(frozen=True)
class OrderMoney:
    order_id: str
    partner_id: str
    partner_name: str
    commission_pct: Decimal
    status: str  # CONFIRMED | CANCELLED
    net_amount: Decimal
    net_currency: str
    sell_amount: Decimal
    sell_currency: str
    fx_rate: Decimal
    cancellation_fee: Decimal | None  # the partner's fee (sell currency)
    supplier_fee: Decimal | None = None  # the supplier's fee (net currency)
    platform_currency: str | None = None
    platform_fx_rate: Decimal | None = None  # net currency → platform currency, as priced


@dataclass
class CycleMoney:
    payable: dict[str, Decimal] = field(default_factory=dict)
    receivable: dict[tuple[str, str, str], Decimal] = field(default_factory=dict)  # (partner_id, name, currency)
    margin: dict[str, Decimal] = field(default_factory=dict)
    margin_supplier_currency: dict[str, Decimal] = field(default_factory=dict)
    margin_platform_currency: dict[str, Decimal] = field(default_factory=dict)
    journal: list[tuple[str, str, Decimal, Decimal, str]] = field(default_factory=list)  # account, cur, dr, cr, memo

    def as_json(self) -> dict:
        receivable = [{"partner_id": pid, "partner_name": name, "currency": cur,
                       "amount": format_decimal(amount, cur)}
                      for (pid, name, cur), amount in sorted(self.receivable.items())]
        return {"payable": {c: format_decimal(a, c) for c, a in sorted(self.payable.items())},
                "receivable": receivable,
                "margin": {c: format_decimal(a, c) for c, a in sorted(self.margin.items())},
                "margin_supplier_currency": {c: format_decimal(a, c)
                                             for c, a in sorted(self.margin_supplier_currency.items())},
                "margin_platform_currency": {c: format_decimal(a, c)
                                             for c, a in sorted(self.margin_platform_currency.items())}}


def _round(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(exponent(currency), rounding=ROUND_HALF_UP)


def order_charge(order: OrderMoney) -> tuple[Decimal, Decimal]:
    """What the partner owes for one order (sell currency, rounded) and what it cost the platform in the sell
    currency (net × fx_rate to 4 places when the currencies differ): the margin is their difference."""
    if order.status == "CANCELLED":
        net = order.supplier_fee or ZERO
        gross = order.cancellation_fee or ZERO
    else:
        net = order.net_amount
        gross = _round(order.sell_amount * (1 - order.commission_pct / 100), order.sell_currency)
    if order.net_currency == order.sell_currency:
        return gross, net
    return gross, (net * order.fx_rate).quantize(FOUR, rounding=ROUND_HALF_UP)


def order_margins(order: OrderMoney, margin: Decimal) -> tuple[Decimal, Decimal | None]:
    """An order's margin (sell currency) in its net currency and in the platform's currency (None: unknown)."""
    in_net = margin if order.net_currency == order.sell_currency else \
        (margin / order.fx_rate).quantize(FOUR, rounding=ROUND_HALF_UP)
    if order.platform_currency == order.sell_currency:
        return in_net, margin
    if order.platform_currency == order.net_currency:
        return in_net, in_net
    if order.platform_currency is None or order.platform_fx_rate is None:
        return in_net, None
    return in_net, (in_net * order.platform_fx_rate).quantize(FOUR, rounding=ROUND_HALF_UP)


def cycle_money(orders: list[OrderMoney], supplier_code: str) -> CycleMoney:
    payable: dict[str, Decimal] = defaultdict(lambda: ZERO)
    receivable: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)
    margin: dict[str, Decimal] = defaultdict(lambda: ZERO)
    in_supplier: dict[str, Decimal] = defaultdict(lambda: ZERO)
    in_platform: dict[str, Decimal] = defaultdict(lambda: ZERO)
    ledger: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)  # (account, currency) -> debit − credit
    supplier_account = f"accounts_payable:supplier:{supplier_code}"
    for order in orders:
        partner_account = f"accounts_receivable:partner:{order.partner_id}"
        net = (order.supplier_fee or ZERO) if order.status == "CANCELLED" else order.net_amount
        gross, cost = order_charge(order)
        payable[order.net_currency] += net
        receivable[(order.partner_id, order.partner_name, order.sell_currency)] += gross
        ledger[(partner_account, order.sell_currency)] += gross
        ledger[(supplier_account, order.net_currency)] -= net
        if order.net_currency != order.sell_currency:
            ledger[("fx_clearing", order.sell_currency)] -= cost
            ledger[("fx_clearing", order.net_currency)] += net
        margin[order.sell_currency] += gross - cost
        in_net, in_platform_currency = order_margins(order, gross - cost)
        in_supplier[order.net_currency] += in_net
        if in_platform_currency is not None:
            in_platform[order.platform_currency] += in_platform_currency
        ledger[("platform_margin", order.sell_currency)] -= gross - cost
    journal = []
    for (account, currency), balance in sorted(ledger.items()):
        memo = _memo(account, supplier_code)
        if balance > 0:
            journal.append((account, currency, balance, ZERO, memo))
        elif balance < 0:
            journal.append((account, currency, ZERO, -balance, memo))
    return CycleMoney(dict(payable), dict(receivable), dict(margin), journal=journal,
                      margin_supplier_currency=dict(in_supplier), margin_platform_currency=dict(in_platform))


def _memo(account: str, supplier_code: str) -> str:
    if account.startswith("accounts_receivable:"):
        return "owed by the partner: sell less commission, cancellation fees at cost"
    if account.startswith("accounts_payable:"):
        return f"owed to supplier {supplier_code}: net cost and cancellation fees"
    if account == "fx_clearing":
        return "net cost converted at the order's fx_rate"
    return "platform margin: receivable less cost"


def journal_balance(entries: list[tuple[str, Decimal, Decimal]]) -> dict[str, tuple[Decimal, Decimal]]:
    """(currency, debit, credit) rows → per currency (total debit, total credit)."""
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for currency, debit, credit in entries:
        totals[currency][0] += debit
        totals[currency][1] += credit
    return {currency: (pair[0], pair[1]) for currency, pair in sorted(totals.items())}
