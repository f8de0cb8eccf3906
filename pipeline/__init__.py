"""The spine shared by every stage: the Article contract, settings, text
normalisation, the query language, config loading and transports.

Stage packages import from here and never from each other."""
