# One image for every Ledgerline process; docker-compose picks the command per service.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements/ requirements/
COPY contracts/ contracts/
COPY servicekit/ servicekit/
COPY services/ services/
COPY simulators/ simulators/
COPY cli/ cli/
COPY providers/ providers/
RUN pip install --no-cache-dir -c requirements/constraints.txt \
      ./contracts ./servicekit ./services/ledger ./services/invoicing ./services/factoring-gateway \
      ./services/financing-gateway ./simulators ./cli ./providers/*
USER nobody
