"""Wallet: deposits, deposit addresses, withdrawals, balances and the ledger history.

One module per job; this package is their public face, with the domain values
(``chalicelib.domain.wallet``) their signatures use. Money only moves through
``chalicelib.adapters.ledger``, as ``chalicelib.domain.wallet`` describes, and every
other row through ``chalicelib.adapters.wallet_repo``.

Repeats are harmless: a deposit is credited once per (asset, external txid) and a
withdrawal is requested once per (user, idempotency key), even when the repeats
arrive concurrently; a repeat returns the original, and a repeat that disagrees with
the original is a 409.

Operator safety: no admin credits their own account or approves their own
withdrawal, and above an asset's four-eyes threshold a credit or an approval by one
admin only records it (a ``PendingCredit``, a withdrawal's ``first_approved_by``)
until a second, different admin executes it. Refusals are audited (``*_REFUSED``).
"""

from chalicelib.domain.wallet import (
    ADDRESS,
    IDEMPOTENCY_KEY,
    Balance,
    Deposit,
    PendingCredit,
    Withdrawal,
    WithdrawalStatus,
)
from chalicelib.service_layer.wallet.balances import balances, ledger_history
from chalicelib.service_layer.wallet.deposit_addresses import deposit_address
from chalicelib.service_layer.wallet.deposits import (
    approve_credit,
    credit_deposit,
    list_deposits,
    pending_credits,
)
from chalicelib.service_layer.wallet.withdrawals import (
    approve_withdrawal,
    get_withdrawal,
    list_withdrawals,
    pending_withdrawals,
    reject_withdrawal,
    request_withdrawal,
)

__all__ = [
    "ADDRESS",
    "IDEMPOTENCY_KEY",
    "Balance",
    "Deposit",
    "PendingCredit",
    "Withdrawal",
    "WithdrawalStatus",
    "approve_credit",
    "approve_withdrawal",
    "balances",
    "credit_deposit",
    "deposit_address",
    "get_withdrawal",
    "ledger_history",
    "list_deposits",
    "list_withdrawals",
    "pending_credits",
    "pending_withdrawals",
    "reject_withdrawal",
    "request_withdrawal",
]
