FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gridsvc gridsvc
COPY migrations migrations
COPY geodata geodata
# Editable, so the top-level migrations/ folder stays beside the package.
RUN pip install --no-cache-dir -e .
EXPOSE 8000
CMD ["gridsvc", "serve", "--host", "0.0.0.0", "--port", "8000"]
