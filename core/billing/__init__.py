"""Partner billing: what each partner owes for a weekly cycle, the documents that bill it, what was paid.

`store` holds the shared SQL (errors, billing profiles, the partner tree, the journal), `statements`
builds each cycle's partner statements (sub-agents under their parent), `invoices` issues invoices and
credit notes (gap-free numbers, immutable), `pdf` renders them, `payments` records payments and matches
bank statement lines, `ageing` reports what is open by days past due, `credit` is what the order flow
asks (exposure freed by paid invoices, overdue invoices blocking new orders).
"""
