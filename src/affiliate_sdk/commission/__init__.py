"""Commission plans, the pure arithmetic that applies them, the journal and settlement.

Import from the modules: ``plans`` (data), ``calculator`` (pure commission
math), ``ledger`` (the hash-chained journal), ``lifecycle`` (state moves as
postings) and ``settlement`` (statements, invoices, reconciliation).
"""

from affiliate_sdk.commission.plans import CommissionPlan

__all__ = ["CommissionPlan"]
