# gradd's container image: a build stage on debian:bookworm, a runtime stage
# on debian:bookworm-slim with only the shared libraries gradd needs.
#
#   docker build -t gradd .
#   docker run --rm -p 8080:8080 gradd
#
# Every RUN line calls deploy/image.sh, the one place the commands live.
# tests/deploy/image-test (make test-image) reads this file and runs the
# same RUN, COPY, WORKDIR, ENV and USER lines in a debootstrapped Debian 12
# root with chroot, then starts gradd from it; it accepts only the
# instructions used here, so keep to them or teach it the new one.
# Configuration is by environment: every GRADD_* variable of
# `gradd serve --help` can be set with `docker run -e` or in compose/k8s.

FROM debian:bookworm AS build
COPY deploy/image.sh /usr/local/sbin/gradd-image
RUN sh /usr/local/sbin/gradd-image build-deps
WORKDIR /src
COPY . /src
RUN sh /usr/local/sbin/gradd-image build /src /out

FROM debian:bookworm-slim
COPY deploy/image.sh /usr/local/sbin/gradd-image
RUN sh /usr/local/sbin/gradd-image runtime-deps
COPY --from=build /out/ /

# Listen on every interface of the container, on the port EXPOSE names.
ENV GRADD_BIND=0.0.0.0
ENV GRADD_PORT=8080
# One BLAS thread per worker, and OpenBLAS itself told so before it starts
# its thread pool: replicas that share a host then add up to the CPUs their
# limits give them. Workers default to the CPUs of the container's cgroup
# quota (cpu.max), so set a CPU limit (docker run --cpus, k8s limits.cpu).
ENV GRADD_BLAS_THREADS=1
ENV OPENBLAS_NUM_THREADS=1
ENV GRADD_OPENAPI=/usr/local/share/gradd/openapi.yaml
ENV GRADD_WEB_ROOT=/usr/local/share/gradd/web
# One JSON object per request line, for log collectors.
ENV GRADD_LOG_FORMAT=json
# SIGTERM drains: readiness turns 503, requests in flight finish within the
# grace period, then gradd exits 0. Orchestrators must wait longer than this
# (docker stop -t 30, stop_grace_period, terminationGracePeriodSeconds).
ENV GRADD_GRACE_S=25

USER gradd
WORKDIR /usr/local/share/gradd
EXPOSE 8080
STOPSIGNAL SIGTERM
# gradd's own client: no curl in the image. Shell form, so that a
# GRADD_PORT given at run time is the one checked.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD gradd health "http://127.0.0.1:${GRADD_PORT}/readyz"
ENTRYPOINT ["gradd"]
CMD ["serve"]
