"""Evidence, the audit report, Allure and history."""
