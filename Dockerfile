# Journey as a hosted dashboard: docker build -t journey . && docker run -p 8501:8501 journey
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    JOURNEY_MODE=hosted JOURNEY_SESSION_MEMORY=2GB
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY app.py ./
COPY pages ./pages
COPY journey ./journey
COPY data ./data
COPY .streamlit ./.streamlit

RUN useradd --create-home --uid 10001 journey && chown -R journey /app
USER journey

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status == 200 else 1)"
CMD ["python", "-m", "streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0"]
