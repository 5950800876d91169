"""AWS Budgets over the metered notebook usage (``aws budgets …``, JSON 1.1, target prefix
``AWSBudgetServiceGateway``, signing name ``budgets``).

Budgets (COST in USD, or USAGE in notebook hours) by day, month, quarter, year or a CUSTOM period, with
AWS's CostFilters (Service, UsageType, LinkedAccount, Region, InstanceType, TagKeyValue ``user:Key$Value``);
CalculatedSpend is read from the meter when a budget is described. Notifications (ACTUAL or FORECASTED,
PERCENTAGE or ABSOLUTE_VALUE) mail their EMAIL subscribers through the server's mailer and publish to their
SNS topic once per budget period (``checker``); budget actions stop notebook instances (``actions``).
"""

from selfmaker.services.budgets.actions import ActionRunner
from selfmaker.services.budgets.alerts import AlertSender
from selfmaker.services.budgets.checker import BudgetChecker
from selfmaker.services.budgets.provider import BudgetsService

__all__ = ["ActionRunner", "AlertSender", "BudgetChecker", "BudgetsService"]
