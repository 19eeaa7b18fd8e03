# syntax=docker/dockerfile:1
# Streaming.MetaTrainer, GPU image (TorchSharp-cuda-linux: libtorch 2.10 for CUDA 12.8). Build from the repository root:
#   docker build -f deploy/docker/metatrainer-gpu.Dockerfile -t streaming/metatrainer-gpu .
# The libtorch-cuda packages carry the CUDA runtime, cuBLAS and cuDNN themselves, so the runtime stage is
# NVIDIA's smallest CUDA image (the node's driver comes in through the NVIDIA container toolkit) plus the
# ASP.NET Core runtime. All stages are Ubuntu 24.04: GLIBCXX_3.4.32 is there, no library patching.

FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
WORKDIR /src
COPY global.json Directory.Build.props Directory.Build.targets Directory.Packages.props BannedSymbols.txt .editorconfig ./
COPY build/ build/
COPY src/Shared/Streaming.Shared/Streaming.Shared.csproj src/Shared/Streaming.Shared/
COPY src/Shared/Streaming.Learning/Streaming.Learning.csproj src/Shared/Streaming.Learning/
COPY src/Shared/Streaming.Text/Streaming.Text.csproj src/Shared/Streaming.Text/
COPY src/MetaTrainer/Streaming.MetaTrainer.csproj src/MetaTrainer/
# TorchDevice=cuda swaps TorchSharp-cpu for TorchSharp-cuda-linux (Directory.Build.props, src/Shared/Streaming.Learning).
RUN dotnet restore src/MetaTrainer/Streaming.MetaTrainer.csproj -r linux-x64 -p:TorchDevice=cuda
COPY src/Shared/Streaming.Shared/ src/Shared/Streaming.Shared/
COPY src/Shared/Streaming.Learning/ src/Shared/Streaming.Learning/
COPY src/Shared/Streaming.Text/ src/Shared/Streaming.Text/
COPY src/MetaTrainer/ src/MetaTrainer/
RUN dotnet publish src/MetaTrainer/Streaming.MetaTrainer.csproj -c Release -r linux-x64 --self-contained false --no-restore \
      -p:TorchDevice=cuda -p:PatchLibTorchSharpGlibcxx=false -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble AS aspnet

FROM nvidia/cuda:12.8.1-base-ubuntu24.04
# What the .NET runtime needs from Ubuntu (as in Microsoft's noble images; no ICU: invariant globalization),
# and the same non-root user as Microsoft's images: "app", UID 1654.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libc6 libgcc-s1 libssl3t64 libstdc++6 tzdata zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 1654 app \
 && useradd --uid 1654 --gid 1654 --no-create-home --shell /usr/sbin/nologin app
COPY --from=aspnet /usr/share/dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
ENV DOTNET_ROOT=/usr/share/dotnet \
    DOTNET_RUNNING_IN_CONTAINER=true \
    APP_UID=1654 \
    ASPNETCORE_HTTP_PORTS=8080
WORKDIR /app
COPY --from=build /app ./
EXPOSE 8080
USER 1654
ENTRYPOINT ["dotnet", "Streaming.MetaTrainer.dll"]
